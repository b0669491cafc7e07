export default function Network() { return <section data-test="page-network"><h1>Network</h1><p>Coming soon.</p></section> }
