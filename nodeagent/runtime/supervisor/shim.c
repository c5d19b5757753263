/*
 * skiff-shim: the per-container supervisor (what conmon is to podman).
 *
 *   skiff-shim [-t] [-i] -d DIR -l LOGFILE -b BUNDLE -c ID [-s SOCK] -- RUNTIME ARGV PREFIX...
 *
 * Runs "PREFIX create --pid-file DIR/init.pid -b BUNDLE ID" (the engine runs
 * "start" itself once it has connected attachers and the network) with the container's stdio connected to pipes (or, with -t, a pty it owns), then
 * detaches: it stays as the container's subreaper, appends its output to LOGFILE in
 * Docker's json-file format, serves SOCK (default DIR/attach.sock; output to every client, in
 * Docker's multiplexed stream format unless -t; client input to stdin) and reads
 * commands from the DIR/ctl fifo ("resize ROWS COLS", "close-stdin"). When the init
 * exits it writes DIR/exit ("CODE FINISHED_NS\n", CODE 128+signal when killed) and
 * leaves. The first process exits 0 once the container is created and the socket listens, or 1 with the
 * runtime's error on stderr. It never outlives its container, and holds ~1 MiB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAXCLIENTS 16
#define LINEMAX 16384

static int tty_mode, stdin_open;
static const char *dir, *logpath, *bundle, *cid, *sock_opt;
static char **prefix;
static int nprefix;
static int sigpipe_fds[2];
static int logfd = -1;
static char linebuf[3][LINEMAX];
static size_t linelen[3];
static int clients[MAXCLIENTS];

static void die(const char *what) {
    fprintf(stderr, "skiff-shim: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void on_sigchld(int sig) {
    (void)sig;
    int e = errno;
    if (write(sigpipe_fds[1], "c", 1) < 0) { /* nothing to do */ }
    errno = e;
}

static void path_in_dir(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", dir, name);
}

static void write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        buf += w;
        n -= (size_t)w;
    }
}

/* One json-file record: {"log":"...","stream":"stdout","time":"...Z"} */
static void log_record(int stream, const char *data, size_t n) {
    static char out[LINEMAX * 6 + 128];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t o = 0;
    o += (size_t)snprintf(out + o, sizeof out - o, "{\"log\":\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
        else if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if (c == '\r') { out[o++] = '\\'; out[o++] = 'r'; }
        else if (c == '\t') { out[o++] = '\\'; out[o++] = 't'; }
        else if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(out + o, sizeof out - o, "\\u%04x", c);
        else out[o++] = (char)c;
    }
    o += (size_t)snprintf(out + o, sizeof out - o,
                          "\",\"stream\":\"%s\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\"}\n",
                          stream == 2 ? "stderr" : "stdout", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                          tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
    write_all(logfd, out, o);
}

static void log_bytes(int stream, const char *data, size_t n, int flush) {
    for (size_t i = 0; i < n; i++) {
        linebuf[stream][linelen[stream]++] = data[i];
        if (data[i] == '\n' || linelen[stream] == LINEMAX) {
            log_record(stream, linebuf[stream], linelen[stream]);
            linelen[stream] = 0;
        }
    }
    if (flush && linelen[stream]) {
        log_record(stream, linebuf[stream], linelen[stream]);
        linelen[stream] = 0;
    }
}

static void broadcast(int stream, const char *data, size_t n) {
    unsigned char hdr[8] = {(unsigned char)stream, 0, 0, 0,
                            (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    for (int i = 0; i < MAXCLIENTS; i++) {
        if (clients[i] < 0) continue;
        if (!tty_mode) write_all(clients[i], (const char *)hdr, 8);
        write_all(clients[i], data, n);
    }
}

/* Run PREFIX + extra args with the given stdio and wait for it. */
static int run_runtime(char **extra, int nextra, int in, int out, int err) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        char **argv = calloc((size_t)(nprefix + nextra + 1), sizeof(char *));
        for (int i = 0; i < nprefix; i++) argv[i] = prefix[i];
        for (int i = 0; i < nextra; i++) argv[nprefix + i] = extra[i];
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return status;
}

/* What a failed runtime command printed, read without blocking. */
static void read_error(int fd, char *buf, size_t n) {
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    ssize_t got = read(fd, buf, n - 1);
    buf[got > 0 ? got : 0] = 0;
}

int main(int argc, char **argv) {
    int opt;
    while ((opt = getopt(argc, argv, "tid:l:b:c:s:")) != -1) {
        switch (opt) {
        case 't': tty_mode = 1; break;
        case 'i': stdin_open = 1; break;
        case 'd': dir = optarg; break;
        case 'l': logpath = optarg; break;
        case 'b': bundle = optarg; break;
        case 'c': cid = optarg; break;
        case 's': sock_opt = optarg; break;
        default: fprintf(stderr, "usage: skiff-shim [-t] [-i] -d DIR -l LOG -b BUNDLE -c ID -- RUNTIME...\n"); return 2;
        }
    }
    if (!dir || !logpath || !bundle || !cid || optind >= argc) {
        fprintf(stderr, "skiff-shim: -d, -l, -b, -c and a runtime command are required\n");
        return 2;
    }
    prefix = argv + optind;
    nprefix = argc - optind;

    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) die("pipe");
    pid_t first = fork();
    if (first < 0) die("fork");
    if (first > 0) {
        /* The caller's process: wait for "ok" or an error message from the shim. */
        close(report[1]);
        char msg[8192];
        size_t got = 0;
        for (;;) {
            ssize_t r = read(report[0], msg + got, sizeof msg - 1 - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        msg[got] = 0;
        if (got == 2 && memcmp(msg, "ok", 2) == 0) return 0;
        fprintf(stderr, "%s", got ? msg : "skiff-shim: supervisor died before the container started\n");
        return 1;
    }
    close(report[0]);
    setsid();
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) die("subreaper");
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < MAXCLIENTS; i++) clients[i] = -1;

    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    int c_in = devnull, c_out, c_err, m_in = -1, m_out, m_err = -1;
    if (tty_mode) {
        int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) die("pty");
        int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0) die("pty slave");
        c_in = c_out = c_err = slave;
        m_in = m_out = master;
    } else {
        int po[2], pe[2];
        if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) die("pipe");
        c_out = po[1]; m_out = po[0];
        c_err = pe[1]; m_err = pe[0];
        if (stdin_open) {
            int pi[2];
            if (pipe2(pi, O_CLOEXEC) < 0) die("pipe");
            c_in = pi[0]; m_in = pi[1];
        }
    }
    logfd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (logfd < 0) die("open log");

    char pidfile[4096], sockpath[4096], ctlpath[4096], exitpath[4096], tmp[4200];
    path_in_dir(pidfile, sizeof pidfile, "init.pid");
    if (sock_opt) snprintf(sockpath, sizeof sockpath, "%s", sock_opt);
    else path_in_dir(sockpath, sizeof sockpath, "attach.sock");
    if (strlen(sockpath) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "skiff-shim: socket path too long: %s\n", sockpath);
        return 2;
    }
    path_in_dir(ctlpath, sizeof ctlpath, "ctl");
    path_in_dir(exitpath, sizeof exitpath, "exit");
    unlink(exitpath);

    if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) die("pipe");
    struct sigaction sa = {0};
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);

    char errbuf[8192];
    char *create_args[] = {"create", "--pid-file", pidfile, "-b", (char *)bundle, (char *)cid};
    /* The runtime's own errors land on the container's stderr (as with runc). */
    int st = run_runtime(create_args, 6, c_in, c_out, c_err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        read_error(tty_mode ? m_out : m_err, errbuf, sizeof errbuf);
        write_all(report[1], errbuf, strlen(errbuf));
        return 1;
    }
    /* The init got the container's stdio from create; our copies of its ends must go. */
    if (c_in != devnull) close(c_in);
    if (c_out != c_in) close(c_out);
    if (c_err != c_out && c_err != c_in) close(c_err);

    FILE *pf = fopen(pidfile, "r");
    int init_pid = 0;
    if (!pf || fscanf(pf, "%d", &init_pid) != 1) die("read init.pid");
    fclose(pf);


    unlink(sockpath);
    int lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sockpath);
    if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lsock, 8) < 0)
        die("attach socket");
    chmod(sockpath, 0600);
    unlink(ctlpath);
    if (mkfifo(ctlpath, 0600) < 0) die("ctl fifo");
    int ctl = open(ctlpath, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    snprintf(tmp, sizeof tmp, "%s/shim.pid", dir);
    FILE *sp = fopen(tmp, "w");
    if (sp) { fprintf(sp, "%d", getpid()); fclose(sp); }

    write_all(report[1], "ok", 2);
    close(report[1]);
    dup2(devnull, 0); dup2(devnull, 1); dup2(devnull, 2);

    int exited = 0, code = 0;
    char buf[32768];
    while (!exited || m_out >= 0 || m_err >= 0) {
        struct pollfd fds[5 + MAXCLIENTS];
        int n = 0;
        fds[n++] = (struct pollfd){sigpipe_fds[0], POLLIN, 0};
        fds[n++] = (struct pollfd){m_out, POLLIN, 0};
        fds[n++] = (struct pollfd){m_err, POLLIN, 0};
        fds[n++] = (struct pollfd){lsock, POLLIN, 0};
        fds[n++] = (struct pollfd){ctl, POLLIN, 0};
        for (int i = 0; i < MAXCLIENTS; i++) fds[n++] = (struct pollfd){clients[i], POLLIN, 0};
        /* After the init exited, drain what is buffered, then leave. */
        int r = poll(fds, (nfds_t)n, exited ? 100 : -1);
        if (r < 0 && errno == EINTR) continue;
        if (exited && r == 0) break;
        if (fds[0].revents) {
            while (read(sigpipe_fds[0], buf, sizeof buf) > 0) {}
            int status;
            pid_t p;
            while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
                if (p == init_pid) {
                    exited = 1;
                    code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
                }
            }
        }
        /* Accept before reading output: the engine connects attachers before it starts
         * the container, so no output can be older than a pending connection. */
        while (fds[3].revents & POLLIN) {
            int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0) {
                int placed = 0;
                for (int i = 0; i < MAXCLIENTS && !placed; i++)
                    if (clients[i] < 0) { clients[i] = c; placed = 1; }
                if (!placed) close(c);
            } else break;
        }
        for (int s = 1; s <= 2; s++) {
            int *fdp = s == 1 ? &m_out : &m_err;
            if (*fdp < 0 || !fds[s].revents) continue;
            ssize_t got = read(*fdp, buf, sizeof buf);
            if (got > 0) {
                log_bytes(s, buf, (size_t)got, 0);
                broadcast(s, buf, (size_t)got);
            } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                log_bytes(s, "", 0, 1);
                if (*fdp != m_in) close(*fdp);
                *fdp = -1;
            }
        }
        if (fds[4].revents & POLLIN) {
            ssize_t got = read(ctl, buf, sizeof buf - 1);
            if (got > 0) {
                buf[got] = 0;
                for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
                    unsigned short rows, cols;
                    if (sscanf(line, "resize %hu %hu", &rows, &cols) == 2 && tty_mode) {
                        struct winsize ws = {.ws_row = rows, .ws_col = cols};
                        ioctl(m_out, TIOCSWINSZ, &ws);
                    } else if (strcmp(line, "close-stdin") == 0 && m_in >= 0) {
                        if (tty_mode) write_all(m_in, "\x04", 1);
                        else { close(m_in); m_in = -1; }
                    }
                }
            }
        }
        for (int i = 0; i < MAXCLIENTS; i++) {
            if (clients[i] < 0 || !fds[5 + i].revents) continue;
            ssize_t got = read(clients[i], buf, sizeof buf);
            if (got > 0) {
                if (m_in >= 0) write_all(m_in, buf, (size_t)got);
            } else {
                close(clients[i]);
                clients[i] = -1;
            }
        }
    }
    log_bytes(1, "", 0, 1);
    log_bytes(2, "", 0, 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(tmp, sizeof tmp, "%s.tmp", exitpath);
    FILE *ef = fopen(tmp, "w");
    if (ef) {
        fprintf(ef, "%d %lld\n", code, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
        fclose(ef);
        rename(tmp, exitpath);
    }
    for (int i = 0; i < MAXCLIENTS; i++) if (clients[i] >= 0) close(clients[i]);
    unlink(sockpath);
    unlink(ctlpath);
    return 0;
}
