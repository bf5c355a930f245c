import { ExitError } from '../kernel/exit-codes';

/** An error the runner expects and explains; `exitCode` tells the CLI how to exit. */
export class MigrationError extends ExitError {
  constructor(...args: ConstructorParameters<typeof ExitError>) {
    super(...args);
    this.name = 'MigrationError';
  }
}
