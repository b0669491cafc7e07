import type { PageProps } from '.'

export default function Block(_: PageProps) {
  return <section data-test="page-block"><h1>Block</h1></section>
}
