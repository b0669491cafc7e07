import type { PageProps } from '.'

export default function Contracts(_: PageProps) {
  return <section data-test="page-contracts"><h1>Contracts</h1></section>
}
