/**
 * Bad input to the review (an unknown git ref, a missing folder, an unreadable plan file): the
 * message names the thing; `npm run review` exits 2 with it and no report.
 */
export class ReviewInputError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReviewInputError';
  }
}
