/*
 * The turn shim: a small standalone program that owns one turn's command so that the command's
 * fate can still be learned when the runtime process that started it is gone (the role conmon
 * plays for a container). Native code, because it starts once per turn: about 1 ms of CPU where
 * a Node process took about 40 ms (docs/benchmarks.md, B5).
 *
 * Usage: turn-shim <statusFile> <logFile> [--cwd <dir>] [--stdout <file>]
 *                  [--keepalive <file> --kill-grace <ms>] -- <program> [args...]
 * (--stdout: also append the command's stdout alone to <file>, for protocols such as stream-json
 * whose events must not be mixed with stderr; --keepalive: the turn's keep-alive file, whose
 * modification time is the instant until which a runtime watches the turn, actors/turnKeepAlive.ts)
 *
 * The runtime spawns the shim detached (its own process group) with the turn's environment.
 * The shim
 * - starts <program> <args> (looked up in PATH when it has no slash) in the shim's process group,
 *   in <dir> (default: the shim's working directory), with the shim's environment and stdin, every
 *   signal at its default disposition; then closes its own stdin, so that a command that exits
 *   without reading its input breaks the runtime's pipe at once;
 * - appends every chunk of the command's stdout and stderr to <logFile> as it arrives, counting
 *   the bytes and keeping the last non-empty stderr line (at most 1 KiB of UTF-8, invalid bytes
 *   replaced by U+FFFD, cut on a character boundary);
 * - when the command exits, drains its pipes (until they close, or stay quiet for DRAIN_QUIET_MS,
 *   at most DRAIN_MAX_MS after the exit: a grandchild may hold them open forever), writes the
 *   status file atomically (<statusFile>.tmp, fsync, rename; the JSON object of
 *   actors/turnStatus.ts) and exits with the command's exit code, or 128 + n for signal n;
 * - when the command cannot be started, writes the status file with spawnError and exits 127;
 * - with --keepalive: reads the keep-alive file's modification time every KEEPALIVE_POLL_MS; once
 *   that instant has passed (or the file is gone or unreadable), no runtime watches the turn any
 *   more, so the shim kills it: SIGTERM to its process group, SIGKILL to the command after
 *   --kill-grace ms, then, once the status (with keepAliveLapsedAt) is written, SIGKILL to the
 *   whole group, itself included.
 * - is the child subreaper of the command's process tree (prctl(2) PR_SET_CHILD_SUBREAPER): a
 *   descendant orphaned by its parent, even one that left the group with setsid(2), becomes the
 *   shim's child instead of init's; the shim reaps those that exit. Right before it writes the
 *   status, the shim asks the kernel whether it still has a child (waitpid(2) ECHILD: none;
 *   one that is exiting gets up to DESCENDANTS_SETTLE_MS);
 *   as every live descendant is a child of the shim or below one, none means nothing of the turn
 *   is left anywhere, and the status says so (descendantsLeft false), which spares the runtime
 *   its scan of /proc for processes of the turn outside the group (actors/turnSupervisor.ts).
 *
 * It ignores SIGHUP and SIGTERM (a kill of the turn's process group reaches the command too, and
 * the shim stays to log the command's last words and record how it ended). A SIGKILL of the group
 * ends both, and then no status file is written. It writes nothing to its stdout; its stderr (the
 * turn's log, as the runtime starts it) only ever gets a line about a failure of the shim itself.
 * Exit code 2: a malformed command line (nothing is written).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* After the command exits, the pipes count as drained once they stay silent this long, in ms. */
#define DRAIN_QUIET_MS 100
/* After the command exits, the shim stops reading its pipes after this long at most, in ms. */
#define DRAIN_MAX_MS 1000
/* Before the status is written, how long a process of the turn still there may take to exit, in ms. */
#define DESCENDANTS_SETTLE_MS 100
/* How often the keep-alive file is read, in ms (KEEPALIVE_POLL_MS of actors/turnKeepAlive.ts). */
#define KEEPALIVE_POLL_MS 250
/* Bound of lastStderrLine, in bytes of UTF-8 (STDERR_LINE_LIMIT_BYTES of actors/turnStatus.ts). */
#define STDERR_LINE_LIMIT 1024
/* Raw bytes of one stderr line kept before it is decoded, trimmed and bounded. */
#define LINE_CAPACITY 4096
#define SPAWN_FAILED_EXIT_CODE 127
#define USAGE_EXIT_CODE 2

/* A growable byte buffer. */
typedef struct {
  char *data;
  size_t length;
  size_t capacity;
} Buffer;

static void buffer_append(Buffer *b, const char *bytes, size_t n) {
  if (b->length + n + 1 > b->capacity) {
    size_t capacity = b->capacity == 0 ? 256 : b->capacity;
    while (b->length + n + 1 > capacity) capacity *= 2;
    char *grown = realloc(b->data, capacity);
    if (grown == NULL) {
      fputs("turn shim: out of memory\n", stderr);
      exit(1);
    }
    b->data = grown;
    b->capacity = capacity;
  }
  memcpy(b->data + b->length, bytes, n);
  b->length += n;
  b->data[b->length] = '\0';
}

static void buffer_printf(Buffer *b, const char *format, ...) {
  char text[512];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(text, sizeof text, format, args);
  va_end(args);
  if (n > 0) buffer_append(b, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one (overlongs, surrogates and code points above U+10FFFF are invalid, as for Node's decoder). */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t length;
  unsigned char low = 0x80, high = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) length = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    length = 3;
    if (c == 0xE0) low = 0xA0;
    if (c == 0xED) high = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    length = 4;
    if (c == 0xF0) low = 0x90;
    if (c == 0xF4) high = 0x8F;
  } else return 0;
  if (n < length) return 0;
  if (s[1] < low || s[1] > high) return 0;
  for (size_t i = 2; i < length; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return length;
}

/* Appends `s` as a JSON string: valid UTF-8 as is, invalid bytes as U+FFFD, controls escaped. */
static void json_string(Buffer *out, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  buffer_append(out, "\"", 1);
  for (size_t i = 0; i < n;) {
    unsigned char c = u[i];
    if (c == '"' || c == '\\') {
      char escaped[2] = {'\\', (char)c};
      buffer_append(out, escaped, 2);
      i++;
    } else if (c == '\n') {
      buffer_append(out, "\\n", 2);
      i++;
    } else if (c == '\r') {
      buffer_append(out, "\\r", 2);
      i++;
    } else if (c == '\t') {
      buffer_append(out, "\\t", 2);
      i++;
    } else if (c < 0x20) {
      buffer_printf(out, "\\u%04x", c);
      i++;
    } else {
      size_t length = utf8_sequence(u + i, n - i);
      if (length == 0) {
        buffer_append(out, "\xEF\xBF\xBD", 3);
        i++;
      } else {
        buffer_append(out, s + i, length);
        i += length;
      }
    }
  }
  buffer_append(out, "\"", 1);
}

static void json_nullable_string(Buffer *out, const char *s) {
  if (s == NULL) buffer_append(out, "null", 4);
  else json_string(out, s, strlen(s));
}

/* `CODE: message` as Node words a system error (`ENOENT: no such file or directory`). */
static void describe_errno(char *out, size_t size, int error) {
  const char *name = strerrorname_np(error);
  char message[256];
  snprintf(message, sizeof message, "%s", strerror(error));
  if (message[0] >= 'A' && message[0] <= 'Z' && !(message[1] >= 'A' && message[1] <= 'Z')) message[0] = (char)(message[0] - 'A' + 'a');
  snprintf(out, size, "%s: %s", name == NULL ? "EUNKNOWN" : name, message);
}

static const char *errno_name(int error) {
  const char *name = strerrorname_np(error);
  return name == NULL ? "EUNKNOWN" : name;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the last non-empty stderr line ---- */

static char line_raw[LINE_CAPACITY];
static size_t line_length = 0;
static char last_line[STDERR_LINE_LIMIT + 1];
static int have_last_line = 0;

static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Takes a complete line: decoded (invalid bytes as U+FFFD), trimmed, bounded on a character boundary. */
static void take_line(void) {
  const unsigned char *u = (const unsigned char *)line_raw;
  size_t start = 0, end = line_length;
  while (start < end && is_space(u[start])) start++;
  while (end > start && is_space(u[end - 1])) end--;
  line_length = 0;
  if (start == end) return;
  size_t kept = 0;
  for (size_t i = start; i < end;) {
    size_t length = utf8_sequence(u + i, end - i);
    const char *bytes = length == 0 ? "\xEF\xBF\xBD" : (const char *)u + i;
    size_t size = length == 0 ? 3 : length;
    if (kept + size > STDERR_LINE_LIMIT) break;
    memcpy(last_line + kept, bytes, size);
    kept += size;
    i += length == 0 ? 1 : length;
  }
  last_line[kept] = '\0';
  have_last_line = 1;
}

static void push_stderr(const char *chunk, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (chunk[i] == '\n') take_line();
    else if (line_length < LINE_CAPACITY) line_raw[line_length++] = chunk[i];
  }
}

/* ---- the status file ---- */

typedef struct {
  int exited;
  int exit_code;     /* when exited by itself */
  int signal_number; /* when a signal ended it; 0 otherwise */
  int64_t ended_at;
  const char *spawn_error;
  const char *log_error;
  int64_t output_bytes;
  int64_t keepalive_lapsed_at; /* 0: not lapsed */
  int descendants_left;        /* 1: some process of the turn lives; 0: none; -1: unknown (no subreaper) */
} Outcome;

static const char *status_file;
static const char *turn_key;

static void write_status(const Outcome *o) {
  Buffer json = {0};
  buffer_append(&json, "{\"exitCode\":", 12);
  if (o->exited && o->signal_number == 0) buffer_printf(&json, "%d", o->exit_code);
  else buffer_append(&json, "null", 4);
  buffer_append(&json, ",\"signal\":", 10);
  if (o->signal_number != 0) {
    const char *abbreviation = sigabbrev_np(o->signal_number);
    char name[32];
    if (abbreviation != NULL) snprintf(name, sizeof name, "SIG%s", abbreviation);
    else snprintf(name, sizeof name, "SIG%d", o->signal_number);
    json_nullable_string(&json, name);
  } else buffer_append(&json, "null", 4);
  buffer_append(&json, ",\"lastStderrLine\":", 18);
  if (line_length > 0) take_line();
  json_nullable_string(&json, have_last_line ? last_line : NULL);
  buffer_printf(&json, ",\"outputBytes\":%lld,\"endedAt\":%lld", (long long)o->output_bytes, (long long)o->ended_at);
  buffer_append(&json, ",\"spawnError\":", 14);
  json_nullable_string(&json, o->spawn_error);
  buffer_append(&json, ",\"logError\":", 12);
  json_nullable_string(&json, o->log_error);
  buffer_append(&json, ",\"turnKey\":", 11);
  json_nullable_string(&json, turn_key);
  buffer_append(&json, ",\"keepAliveLapsedAt\":", 21);
  if (o->keepalive_lapsed_at != 0) buffer_printf(&json, "%lld", (long long)o->keepalive_lapsed_at);
  else buffer_append(&json, "null", 4);
  buffer_printf(&json, ",\"descendantsLeft\":%s", o->descendants_left < 0 ? "null" : o->descendants_left ? "true" : "false");
  buffer_append(&json, "}\n", 2);

  Buffer temporary = {0};
  buffer_append(&temporary, status_file, strlen(status_file));
  buffer_append(&temporary, ".tmp", 4);
  int fd = open(temporary.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  int failed = fd < 0;
  for (size_t written = 0; !failed && written < json.length;) {
    ssize_t n = write(fd, json.data + written, json.length - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) failed = 1;
    else written += (size_t)n;
  }
  if (!failed && fsync(fd) != 0) failed = 1;
  int error = errno;
  if (fd >= 0) close(fd);
  if (!failed && rename(temporary.data, status_file) != 0) {
    failed = 1;
    error = errno;
  }
  if (failed) {
    char why[320];
    describe_errno(why, sizeof why, error);
    fprintf(stderr, "turn shim: cannot write the status file %s: %s\n", status_file, why);
    exit(1);
  }
}

static void finish_without_command(const char *spawn_error) {
  Outcome o = {0};
  o.ended_at = wall_ms();
  o.spawn_error = spawn_error;
  write_status(&o);
  exit(SPAWN_FAILED_EXIT_CODE);
}

/* The SIGCHLD handler's self-pipe: readable once a child changed state. */
static int sigchld_pipe[2] = {-1, -1};

/*
 * 1 when the shim still has a child after up to DESCENDANTS_SETTLE_MS (reaping those that exit
 * meanwhile), 0 when it has none. As the subreaper of the turn, no child means no live process
 * of the turn anywhere. The wait is for a process that is exiting: its pipes close before the
 * kernel makes it a zombie, so the shim can see the end of the output first.
 */
static int has_children(void) {
  int64_t until = monotonic_ms() + DESCENDANTS_SETTLE_MS;
  for (;;) {
    pid_t reaped = waitpid(-1, NULL, WNOHANG);
    if (reaped > 0) continue;
    if (reaped < 0 && errno == EINTR) continue;
    if (reaped < 0) return errno == ECHILD ? 0 : 1;
    int64_t left = until - monotonic_ms();
    if (left <= 0) return 1;
    struct pollfd child_exit = {.fd = sigchld_pipe[0], .events = POLLIN};
    if (poll(&child_exit, 1, (int)left) > 0) {
      char drained[64];
      while (read(sigchld_pipe[0], drained, sizeof drained) > 0) {
      }
    }
  }
}

/* ---- signals ---- */


static void on_sigchld(int signal_number) {
  (void)signal_number;
  int saved = errno;
  ssize_t ignored = write(sigchld_pipe[1], "x", 1);
  (void)ignored; /* a full pipe already holds a wake-up */
  errno = saved;
}

/* Deliberately does nothing: SIGHUP and SIGTERM are caught (not ignored, which the command would inherit) and dropped. */
static void on_ignored_signal(int signal_number) {
  (void)signal_number;
}

static void install(int signal_number, void (*handler)(int)) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(signal_number, &action, NULL);
}

/* Sends `signal_number` to the shim's own process group (the turn's); ESRCH means it is already empty. */
static void signal_group(int signal_number) {
  kill(-getpid(), signal_number);
}

/* ---- arguments ---- */

typedef struct {
  const char *status_file;
  const char *log_file;
  const char *cwd;
  const char *stdout_file;
  const char *keepalive_file;
  int64_t kill_grace_ms;
  char **command;
} Arguments;

static int parse_arguments(int argc, char **argv, Arguments *a) {
  int separator = -1;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--") == 0) {
      separator = i;
      break;
    }
  if (separator < 3 || separator + 1 >= argc) return 0;
  memset(a, 0, sizeof *a);
  a->status_file = argv[1];
  a->log_file = argv[2];
  const char *kill_grace = NULL;
  for (int i = 3; i < separator; i += 2) {
    if (i + 1 >= separator) return 0;
    const char *flag = argv[i], *value = argv[i + 1];
    const char **slot = strcmp(flag, "--cwd") == 0          ? &a->cwd
                        : strcmp(flag, "--stdout") == 0     ? &a->stdout_file
                        : strcmp(flag, "--keepalive") == 0  ? &a->keepalive_file
                        : strcmp(flag, "--kill-grace") == 0 ? &kill_grace
                                                            : NULL;
    if (slot == NULL || *slot != NULL) return 0;
    *slot = value;
  }
  if (kill_grace != NULL) {
    char *end;
    errno = 0;
    double ms = strtod(kill_grace, &end);
    if (errno != 0 || *end != '\0' || !(ms >= 0) || ms > 9e15) return 0;
    a->kill_grace_ms = (int64_t)ms;
  }
  a->command = argv + separator + 1;
  return 1;
}

/* ---- starting the command ---- */

/* What the child reports through the exec pipe when it could not become the command. */
typedef struct {
  int stage; /* 1: chdir, 2: exec */
  int error;
} StartFailure;

static pid_t start_command(const Arguments *a, const char *cwd, int out[2], int err[2]) {
  int report[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0) {
    char why[320], text[400];
    describe_errno(why, sizeof why, errno);
    snprintf(text, sizeof text, "spawn failed: %s", why);
    finish_without_command(text);
  }
  pid_t pid = fork();
  if (pid < 0) {
    char why[320], text[400];
    describe_errno(why, sizeof why, errno);
    snprintf(text, sizeof text, "spawn failed: %s", why);
    finish_without_command(text);
  }
  if (pid == 0) {
    /* The command starts as a fresh program would: default dispositions, nothing blocked. */
    for (int s = 1; s < NSIG; s++)
      if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    StartFailure failure = {1, 0};
    if (chdir(cwd) != 0) {
      failure.error = errno;
    } else if (dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0) {
      failure.stage = 2;
      failure.error = errno;
    } else {
      execvp(a->command[0], a->command);
      failure.stage = 2;
      failure.error = errno;
    }
    ssize_t ignored = write(report[1], &failure, sizeof failure);
    (void)ignored;
    _exit(SPAWN_FAILED_EXIT_CODE);
  }
  close(out[1]);
  close(err[1]);
  close(report[1]);
  /* The command holds its own copy of stdin; without ours, its exit breaks the runtime's pipe. */
  close(STDIN_FILENO);
  StartFailure failure;
  ssize_t n;
  do n = read(report[0], &failure, sizeof failure);
  while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == (ssize_t)sizeof failure) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    static char text[1024];
    if (failure.stage == 1 && failure.error == ENOENT) snprintf(text, sizeof text, "spawn failed: ENOENT: working directory %s does not exist", cwd);
    else snprintf(text, sizeof text, "spawn failed: %s: spawn %s %s", errno_name(failure.error), a->command[0], errno_name(failure.error));
    finish_without_command(text);
  }
  return pid;
}

/* ---- supervising it ---- */

static char log_error_text[512];
static const char *log_error = NULL;

static void write_all(int fd, const char *bytes, size_t n, const char *prefix) {
  for (size_t written = 0; written < n;) {
    ssize_t w = write(fd, bytes + written, n - written);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      char why[320];
      describe_errno(why, sizeof why, errno);
      snprintf(log_error_text, sizeof log_error_text, "%s%s, write", prefix, why);
      log_error = log_error_text;
      return;
    }
    written += (size_t)w;
  }
}

int main(int argc, char **argv) {
  install(SIGHUP, on_ignored_signal);
  install(SIGTERM, on_ignored_signal);
  signal(SIGPIPE, SIG_IGN);
  Arguments a;
  if (!parse_arguments(argc, argv, &a)) return USAGE_EXIT_CODE;
  status_file = a.status_file;
  turn_key = getenv("STATECREW_TURN_KEY");
  char *here = NULL;
  const char *cwd = a.cwd;
  if (cwd == NULL) cwd = here = getcwd(NULL, 0);
  if (cwd == NULL) cwd = ".";

  int log_fd = open(a.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  int stdout_fd = -1;
  const char *failed_file = a.log_file;
  if (log_fd >= 0 && a.stdout_file != NULL) {
    stdout_fd = open(a.stdout_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    failed_file = a.stdout_file;
  }
  if (log_fd < 0 || (a.stdout_file != NULL && stdout_fd < 0)) {
    /* No log, no turn: the command is not started, and the runtime learns why from the status. */
    char why[320], text[1024];
    describe_errno(why, sizeof why, errno);
    snprintf(text, sizeof text, "log file %s cannot be opened: %s, open '%s'", a.log_file, why, failed_file);
    finish_without_command(text);
  }

  if (pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    perror("turn shim: pipe");
    return 1;
  }
  install(SIGCHLD, on_sigchld);
  /* Orphaned descendants come to the shim (see the header); without it, what is left is unknown. */
  int subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
  int out[2], err[2];
  pid_t child = start_command(&a, cwd, out, err);
  free(here);

  Outcome outcome = {0};
  int open_pipes[2] = {out[0], err[0]};
  int64_t quiet_deadline = -1, max_deadline = -1, kill_deadline = -1;
  int64_t keepalive_next = a.keepalive_file != NULL ? monotonic_ms() : -1;
  static char chunk[65536];

  for (;;) {
    int64_t now = monotonic_ms();
    if (!outcome.exited && keepalive_next >= 0 && now >= keepalive_next) {
      keepalive_next = -1;
      struct stat info;
      int64_t valid_until = stat(a.keepalive_file, &info) == 0 ? (int64_t)info.st_mtim.tv_sec * 1000 + info.st_mtim.tv_nsec / 1000000 : -1;
      int64_t wall = wall_ms();
      if (valid_until < 0 || wall >= valid_until) {
        /* Gone, unreadable or past: no runtime watches the turn any more. */
        outcome.keepalive_lapsed_at = wall;
        signal_group(SIGTERM);
        kill_deadline = now + a.kill_grace_ms;
      } else {
        int64_t wait = valid_until - wall;
        keepalive_next = now + (wait < KEEPALIVE_POLL_MS ? wait : KEEPALIVE_POLL_MS);
      }
    }
    if (!outcome.exited && kill_deadline >= 0 && now >= kill_deadline) {
      kill(child, SIGKILL);
      kill_deadline = -1;
    }
    if (outcome.exited && ((open_pipes[0] < 0 && open_pipes[1] < 0) || now >= quiet_deadline || now >= max_deadline)) break;

    int64_t next = -1;
    int64_t candidates[4] = {outcome.exited ? -1 : keepalive_next, outcome.exited ? -1 : kill_deadline, quiet_deadline, max_deadline};
    for (int i = 0; i < 4; i++)
      if (candidates[i] >= 0 && (next < 0 || candidates[i] < next)) next = candidates[i];
    int timeout = next < 0 ? -1 : (int)(next - now < 0 ? 0 : next - now);

    struct pollfd fds[3];
    int count = 0;
    fds[count++] = (struct pollfd){.fd = sigchld_pipe[0], .events = POLLIN};
    for (int i = 0; i < 2; i++)
      if (open_pipes[i] >= 0) fds[count++] = (struct pollfd){.fd = open_pipes[i], .events = POLLIN};
    if (poll(fds, (nfds_t)count, timeout) < 0) {
      if (errno == EINTR) continue;
      perror("turn shim: poll");
      return 1;
    }
    for (int f = 0; f < count; f++) {
      if (fds[f].revents == 0) continue;
      if (fds[f].fd == sigchld_pipe[0]) {
        char drained[64];
        while (read(sigchld_pipe[0], drained, sizeof drained) > 0) {
        }
        int status;
        pid_t reaped;
        /* The command, and orphaned descendants that were reparented to the shim and exited. */
        while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
          if (reaped != child || outcome.exited) continue;
          outcome.exited = 1;
          outcome.ended_at = wall_ms();
          if (WIFSIGNALED(status)) outcome.signal_number = WTERMSIG(status);
          else outcome.exit_code = WEXITSTATUS(status);
          int64_t at = monotonic_ms();
          quiet_deadline = at + DRAIN_QUIET_MS;
          max_deadline = at + DRAIN_MAX_MS;
        }
        continue;
      }
      int which = fds[f].fd == open_pipes[0] ? 0 : 1;
      ssize_t n = read(fds[f].fd, chunk, sizeof chunk);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        if (n < 0 && log_error == NULL) {
          /* A read error ends that pipe like a close does; the output lost with it is reported. */
          char why[320];
          describe_errno(why, sizeof why, errno);
          snprintf(log_error_text, sizeof log_error_text, "output lost: %s, read", why);
          log_error = log_error_text;
        }
        close(open_pipes[which]);
        open_pipes[which] = -1;
        continue;
      }
      outcome.output_bytes += n;
      /* The bytes are still read (the command must never block on a full pipe) but, after a failed write, no longer logged. */
      if (log_error == NULL) write_all(log_fd, chunk, (size_t)n, "");
      if (which == 0 && stdout_fd >= 0 && log_error == NULL) write_all(stdout_fd, chunk, (size_t)n, "stdout copy failed: ");
      if (which == 1) push_stderr(chunk, (size_t)n);
      if (outcome.exited) quiet_deadline = monotonic_ms() + DRAIN_QUIET_MS;
    }
  }

  outcome.log_error = log_error;
  outcome.descendants_left = subreaper ? has_children() : -1;
  write_status(&outcome);
  close(log_fd);
  if (stdout_fd >= 0) close(stdout_fd);
  /* No runtime will clean up after a lapsed turn: what is left of the group goes, and the shim with it. */
  if (outcome.keepalive_lapsed_at != 0) signal_group(SIGKILL);
  return outcome.signal_number != 0 ? 128 + outcome.signal_number : outcome.exit_code;
}
