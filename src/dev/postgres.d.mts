export declare function freePort(): Promise<number>;
export declare function startPostgres(options: {
  dataDir: string;
  port: number;
  password: string;
  /** Keep the data folder when stopped (default true). */
  persistent?: boolean;
  /** Extra postgres flags, e.g. ['-c', 'fsync=off']. */
  flags?: string[];
  /** How long the server may take to accept connections before it is stopped and the start fails (default 60 s). */
  startTimeoutMs?: number;
}): Promise<{
  /** Whether the data folder already held a cluster (no initdb was needed). */
  initialised: boolean;
  url(database?: string): string;
  port: number;
  stop(): Promise<void>;
}>;
