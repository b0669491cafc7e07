import type { PageProps } from '.'

export default function Charts(_: PageProps) {
  return <section data-test="page-charts"><h1>Charts</h1></section>
}
