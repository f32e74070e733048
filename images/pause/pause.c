/*
 * k8ts pause: the process that holds a pod's namespaces open.
 *
 * It is PID 1 of the pod sandbox. When the pod shares one PID namespace, orphaned
 * processes of every container are re-parented to it, so it must reap them or they
 * stay zombies forever. SIGINT/SIGTERM end it cleanly (exit 0) so that stopping the
 * sandbox is fast; as PID 1 the kernel would otherwise ignore signals that have no
 * handler, and the runtime would wait for its kill timeout.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  int saved = errno;
  /* One SIGCHLD can stand for several exits: reap until nothing is left. */
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
    printf("k8ts pause 3.9\n");
    return 0;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);

  sa.sa_handler = on_term;
  if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
    perror("sigaction");
    return 1;
  }
  sa.sa_handler = on_child;
  sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  if (sigaction(SIGCHLD, &sa, NULL) < 0) {
    perror("sigaction");
    return 2;
  }
  if (getpid() != 1) {
    /* Not fatal: tests and `k8ts node` debugging run it outside a sandbox. */
    fprintf(stderr, "pause: not running as PID 1\n");
  }
  for (;;) pause();
  return 42; /* unreachable */
}
