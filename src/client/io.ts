/** What a command reads and writes, injected so that tests run the CLI in-process. */
export interface OutputStream {
  write(text: string): unknown;
  /** A terminal: progress is shown there. */
  isTTY?: boolean;
  columns?: number;
}

export interface ClientIo {
  env: NodeJS.ProcessEnv;
  stdout: OutputStream;
  stderr: OutputStream;
}
