import type { PageProps } from '.'

export default function Wallet(_: PageProps) {
  return <section data-test="page-wallet"><h1>Wallet</h1></section>
}
