// Exit statuses shared by every subcommand.

export const exitCodes = {
  ok: 0,
  /** Runtime failure: the broker could not start, or stopping failed. */
  failure: 1,
  /** Bad invocation or configuration: fix the command line or the config file. */
  usage: 2,
} as const;
