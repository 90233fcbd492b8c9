/*
 * The turn spawner: one small long-lived process per runtime process that starts turn shims on
 * its behalf. A fork of the runtime (a Node process of a few hundred MiB) costs it about 12-16 ms
 * of CPU per turn (docs/benchmarks.md, B5 and B6); a fork of this process costs well under one.
 *
 * Usage: turn-spawner   (started by actors/turnSpawner.ts with stdin and stdout as pipes)
 *
 * Requests arrive on stdin, one frame each: a 4-byte little-endian length, then that many bytes
 * of NUL-terminated fields:
 *   <stdin path, or empty for /dev/null> <stderr path> <argc> <argv...> <envc> <env...>
 * For each request, in order, the spawner forks a child that starts a session of its own
 * (setsid: the shim leads a new process group, as `spawn(..., { detached: true })` does), runs
 * from `/`, reads the stdin file, writes nothing to stdout (/dev/null), appends its stderr to the
 * stderr path, has every signal at its default disposition, and executes argv[0] (a path) with
 * exactly the given environment. It answers on stdout, one line per request, in order:
 *   S <pid>        started
 *   E <errno>      not started (opening a file, or the exec, failed with that errno)
 * and, whenever a child it started ends, one line:
 *   X <pid> <exit code or -1> <signal number or 0>
 *
 * At the end of stdin (the runtime exited, or closed it) the spawner exits at once: the shims it
 * started are sessions of their own and live on (reparented), which is what lets a turn outlive
 * its runtime. A malformed frame ends the spawner with exit code 2; the runtime then sees its
 * stdout close and starts no more turns through it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Largest request accepted, in bytes (argv and environment of one turn). */
#define MAX_FRAME (16 * 1024 * 1024)
#define MALFORMED_EXIT_CODE 2

static int sigchld_pipe[2] = {-1, -1};

static void on_sigchld(int signal_number) {
  (void)signal_number;
  int saved = errno;
  ssize_t ignored = write(sigchld_pipe[1], "x", 1);
  (void)ignored; /* a full pipe already holds a wake-up */
  errno = saved;
}

/* Writes a whole line to stdout; the runtime reading it is gone when that fails, and so is the reason to run. */
static void reply(const char *line) {
  size_t length = strlen(line);
  for (size_t written = 0; written < length;) {
    ssize_t n = write(STDOUT_FILENO, line + written, length - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) exit(0);
    written += (size_t)n;
  }
}

/* Reads exactly `n` bytes from stdin; 0 at the end of input before any byte, -1 at a short read. */
static int read_exactly(char *buffer, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(STDIN_FILENO, buffer + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return got == 0 && r == 0 ? 0 : -1;
    got += (size_t)r;
  }
  return 1;
}

/* Splits the frame into its NUL-terminated fields; returns how many, or -1 when it does not end with a NUL. */
static int split_fields(char *frame, size_t length, char ***fields) {
  if (length == 0 || frame[length - 1] != '\0') return -1;
  int count = 0;
  for (size_t i = 0; i < length; i++)
    if (frame[i] == '\0') count++;
  *fields = calloc((size_t)count + 1, sizeof(char *));
  if (*fields == NULL) return -1;
  char *at = frame;
  for (int i = 0; i < count; i++) {
    (*fields)[i] = at;
    at += strlen(at) + 1;
  }
  return count;
}

static int parse_count(const char *text, int limit) {
  char *end;
  long value = strtol(text, &end, 10);
  return *text == '\0' || *end != '\0' || value < 0 || value > limit ? -1 : (int)value;
}

/* Starts one request's shim; answers S or E. */
static void start(char **fields, int count) {
  if (count < 3) exit(MALFORMED_EXIT_CODE);
  const char *stdin_path = fields[0], *stderr_path = fields[1];
  int argc = parse_count(fields[2], count);
  if (argc < 1 || 3 + argc >= count) exit(MALFORMED_EXIT_CODE);
  char **argv = fields + 3;
  int envc = parse_count(fields[3 + argc], count);
  if (envc < 0 || 4 + argc + envc != count) exit(MALFORMED_EXIT_CODE);
  char **envp = fields + 4 + argc;
  char *saved_argv_end = argv[argc];
  char *saved_env_end = envp[envc];
  argv[argc] = NULL;
  envp[envc] = NULL;

  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    char line[32];
    snprintf(line, sizeof line, "E %d\n", errno);
    reply(line);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    for (int s = 1; s < NSIG; s++)
      if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int error = 0;
    if (setsid() < 0 || chdir("/") != 0) error = errno;
    int in = error == 0 ? open(stdin_path[0] == '\0' ? "/dev/null" : stdin_path, O_RDONLY) : -1;
    if (error == 0 && in < 0) error = errno;
    int out = error == 0 ? open("/dev/null", O_WRONLY) : -1;
    if (error == 0 && out < 0) error = errno;
    int err = error == 0 ? open(stderr_path, O_WRONLY | O_APPEND | O_CREAT, 0666) : -1;
    if (error == 0 && err < 0) error = errno;
    if (error == 0 && (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)) error = errno;
    if (error == 0) {
      /* The files opened above are closed now; every other fd of the spawner is close-on-exec. */
      if (in > STDERR_FILENO) close(in);
      if (out > STDERR_FILENO) close(out);
      if (err > STDERR_FILENO) close(err);
      execve(argv[0], argv, envp);
      error = errno;
    }
    ssize_t ignored = write(report[1], &error, sizeof error);
    (void)ignored;
    _exit(127);
  }
  int error = pid < 0 ? errno : 0;
  close(report[1]);
  if (pid > 0) {
    ssize_t n;
    do n = read(report[0], &error, sizeof error);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof error) error = 0;
  }
  close(report[0]);
  argv[argc] = saved_argv_end;
  envp[envc] = saved_env_end;
  char line[48];
  if (error != 0) {
    /* The failed child is reaped (and its X line suppressed) here: it never was a turn. */
    if (pid > 0) while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
      }
    snprintf(line, sizeof line, "E %d\n", error);
  } else snprintf(line, sizeof line, "S %d\n", (int)pid);
  reply(line);
}

static void reap(void) {
  char drained[64];
  while (read(sigchld_pipe[0], drained, sizeof drained) > 0) {
  }
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    char line[64];
    if (WIFSIGNALED(status)) snprintf(line, sizeof line, "X %d -1 %d\n", (int)pid, WTERMSIG(status));
    else snprintf(line, sizeof line, "X %d %d 0\n", (int)pid, WEXITSTATUS(status));
    reply(line);
  }
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  if (pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return 1;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_sigchld;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &action, NULL);
  /* Requests are handled with SIGCHLD blocked, so that an exit is reported after its start. */
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);

  for (;;) {
    struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = sigchld_pipe[0], .events = POLLIN}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[1].revents != 0) reap();
    if (fds[0].revents == 0) continue;
    unsigned char header[4];
    int got = read_exactly((char *)header, sizeof header);
    if (got == 0) return 0;
    if (got < 0) return MALFORMED_EXIT_CODE;
    uint32_t length = (uint32_t)header[0] | (uint32_t)header[1] << 8 | (uint32_t)header[2] << 16 | (uint32_t)header[3] << 24;
    if (length == 0 || length > MAX_FRAME) return MALFORMED_EXIT_CODE;
    char *frame = malloc(length);
    if (frame == NULL || read_exactly(frame, length) != 1) return MALFORMED_EXIT_CODE;
    char **fields;
    int count = split_fields(frame, length, &fields);
    if (count < 0) return MALFORMED_EXIT_CODE;
    sigprocmask(SIG_BLOCK, &chld, NULL);
    start(fields, count);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    free(fields);
    free(frame);
  }
}
