import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

// The peer's UI (index.html) and, when present, the devnet supervisor's page
// (devnet.html) are built into internal/ui/dist with fixed file names, so a
// rebuild of unchanged sources changes no file (make ui-check).
const root = import.meta.dirname
const input: Record<string, string> = { app: resolve(root, 'index.html') }
if (existsSync(resolve(root, 'devnet.html'))) input.devnet = resolve(root, 'devnet.html')

export default defineConfig({
  plugins: [react()],
  base: './',
  build: {
    outDir: resolve(root, '../internal/ui/dist'),
    emptyOutDir: true,
    sourcemap: false,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 2000,
    rolldownOptions: {
      input,
      output: {
        entryFileNames: 'assets/[name].js',
        chunkFileNames: 'assets/[name].js',
        assetFileNames: 'assets/[name][extname]',
      },
    },
  },
})
