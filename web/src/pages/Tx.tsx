import type { PageProps } from '.'

export default function Tx(_: PageProps) {
  return <section data-test="page-tx"><h1>Tx</h1></section>
}
