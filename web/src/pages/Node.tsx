export default function Node() { return <section data-test="page-node"><h1>Node</h1><p>Coming soon.</p></section> }
