import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['.cache/**', 'dist/**', 'data/**', 'drizzle/**', 'node_modules/**']
  }),
  {
    rules: {
      // TypeBox convention: a schema constant and its Static<> type share one name.
      '@typescript-eslint/no-redeclare': 'off'
    }
  }
]
