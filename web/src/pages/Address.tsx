import type { PageProps } from '.'

export default function Address(_: PageProps) {
  return <section data-test="page-address"><h1>Address</h1></section>
}
