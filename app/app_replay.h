/* app_replay.h: `fieldbrain replay LOG ...` (replay.c). */
#ifndef FIELDBRAIN_APP_REPLAY_H
#define FIELDBRAIN_APP_REPLAY_H

/* argv[1] is "replay". Returns the exit status: 0 the motors agree (or a
 * what-if ran), 1 they diverge, 2 the log or an option is unusable. */
int app_replay_main(int argc, char **argv);

#endif
