/**
 * A migration that refuses the data it found: it changes nothing and its message says what an operator
 * does about it (the CLI prints it as one line, not as a stack).
 */
export class MigrationRefusal extends Error {
  override name = 'MigrationRefusal'
}
