// The CLI's exit codes, and how a command says "already reported, just exit with this code".

/** Success. */
export const EXIT_OK = 0;
/** The command failed; the message and a hint are on stderr. */
export const EXIT_FAILURE = 1;
/** A usage error: bad arguments or options. */
export const EXIT_USAGE = 2;

/** The code of a CommanderError a command throws after it has printed its own message. */
export const REPORTED_FAILURE = 'stackshot.reported';
