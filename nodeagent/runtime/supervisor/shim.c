/*
 * skiff-shim: the per-container (and per-exec) supervisor (what conmon is to podman).
 *
 *   skiff-shim [-t] [-i] [-w] -d DIR [-l LOGFILE] -b BUNDLE -c ID [-s SOCK] -- RUNTIME ARGV PREFIX...
 *   skiff-shim [-t] [-i] [-w] -d DIR -e PROCESS.json -c ID [-s SOCK] -- RUNTIME ARGV PREFIX...
 *
 * Runs "PREFIX create --pid-file DIR/init.pid -b BUNDLE ID" (the engine runs "start"
 * itself once it has connected attachers and the network) or, with -e, "PREFIX exec
 * --detach --pid-file DIR/init.pid -p PROCESS.json ID", with the process's stdio on
 * pipes or, with -t, on a pty the runtime makes inside the container and hands over
 * the console socket SOCK.tty (as runc's --console-socket). The shim keeps the pty
 * master, so a daemon restart leaves the terminal in place. It then detaches: it stays
 * as the process's subreaper, appends output to LOGFILE in Docker's json-file format
 * (when given), serves SOCK (default DIR/attach.sock; output to every client, in
 * Docker's multiplexed stream format unless -t; client input to stdin) and reads
 * commands from the DIR/ctl fifo ("resize ROWS COLS", "close-stdin": pending client
 * input is forwarded first). With -w no output is read until the first client
 * connects (an exec starts at once; its first bytes must reach the attached caller),
 * for 60 s at most. When the process exits it writes DIR/exit ("CODE FINISHED_NS\n",
 * CODE 128+signal when killed) and leaves. The first process exits 0 once the process
 * is created and the socket listens, or 1 with the runtime's error on stderr. It never
 * outlives what it supervises, and holds ~1 MiB.
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
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAXCLIENTS 16
#define LINEMAX 16384

static int tty_mode, stdin_open, hold_output;
static const char *dir, *logpath, *bundle, *cid, *sock_opt, *exec_process;
static char **prefix;
static int nprefix;
static int sigpipe_fds[2];
static int logfd = -1;
static char linebuf[3][LINEMAX];
static size_t linelen[3];
static int clients[MAXCLIENTS];
static int client_in[MAXCLIENTS]; /* still sending input */

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
    if (logfd < 0) return;
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

/* The pty master the runtime sent over the console socket (SCM_RIGHTS). */
static int recv_console(int lsock) {
    struct pollfd p = {lsock, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) return -1;
    int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) return -1;
    char name[256];
    struct iovec iov = {name, sizeof name};
    union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.b;
    msg.msg_controllen = sizeof u.b;
    ssize_t r;
    while ((r = recvmsg(c, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {}
    close(c);
    struct cmsghdr *h = r > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (!h || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(h), sizeof fd);
    return fd;
}

/* Input the clients sent before a "close-stdin" (they wrote it first), then close stdin. */
static void drain_clients_into(int m_in, char *buf, size_t n) {
    for (int i = 0; i < MAXCLIENTS; i++) {
        if (clients[i] < 0 || !client_in[i]) continue;
        ssize_t got;
        while ((got = recv(clients[i], buf, n, MSG_DONTWAIT)) > 0)
            if (m_in >= 0) write_all(m_in, buf, (size_t)got);
    }
}

static long long mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
    int opt;
    while ((opt = getopt(argc, argv, "tiwd:l:b:c:s:e:")) != -1) {
        switch (opt) {
        case 't': tty_mode = 1; break;
        case 'i': stdin_open = 1; break;
        case 'w': hold_output = 1; break;
        case 'e': exec_process = optarg; break;
        case 'd': dir = optarg; break;
        case 'l': logpath = optarg; break;
        case 'b': bundle = optarg; break;
        case 'c': cid = optarg; break;
        case 's': sock_opt = optarg; break;
        default: fprintf(stderr, "usage: skiff-shim [-t] [-i] [-w] -d DIR [-l LOG] (-b BUNDLE | -e PROCESS) -c ID -- RUNTIME...\n"); return 2;
        }
    }
    if (!dir || (!bundle && !exec_process) || !cid || optind >= argc) {
        fprintf(stderr, "skiff-shim: -d, -b (or -e), -c and a runtime command are required\n");
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
    char pidfile[4096], sockpath[4096], consolepath[4200], ctlpath[4096], exitpath[4096], tmp[4200];
    path_in_dir(pidfile, sizeof pidfile, "init.pid");
    if (sock_opt) snprintf(sockpath, sizeof sockpath, "%s", sock_opt);
    else path_in_dir(sockpath, sizeof sockpath, "attach.sock");
    snprintf(consolepath, sizeof consolepath, "%s.tty", sockpath);
    if (strlen(consolepath) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "skiff-shim: socket path too long: %s\n", sockpath);
        return 2;
    }
    path_in_dir(ctlpath, sizeof ctlpath, "ctl");
    path_in_dir(exitpath, sizeof exitpath, "exit");
    unlink(exitpath);

    int c_in = devnull, c_out, c_err, m_in = -1, m_out, m_err = -1, console_l = -1;
    if (tty_mode) {
        /* The runtime makes the pty in the container's devpts and sends us its master;
         * its own errors come on a pipe. */
        int pe[2];
        if (pipe2(pe, O_CLOEXEC) < 0) die("pipe");
        c_out = devnull;
        c_err = pe[1]; m_err = pe[0];
        unlink(consolepath);
        console_l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un ca = {.sun_family = AF_UNIX};
        snprintf(ca.sun_path, sizeof ca.sun_path, "%s", consolepath);
        if (console_l < 0 || bind(console_l, (struct sockaddr *)&ca, sizeof ca) < 0 || listen(console_l, 1) < 0)
            die("console socket");
        chmod(consolepath, 0600);
        m_out = -1;
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
    if (logpath) {
        logfd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (logfd < 0) die("open log");
    }

    if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) die("pipe");
    struct sigaction sa = {0};
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);

    char errbuf[8192];
    char *create_args[] = {"create", "--pid-file", pidfile, "-b", (char *)bundle, (char *)cid, NULL, NULL};
    char *exec_args[] = {"exec", "--detach", "--pid-file", pidfile, "-p", (char *)exec_process, (char *)cid,
                         NULL, NULL};
    char **args = exec_process ? exec_args : create_args;
    int nargs = exec_process ? 7 : 6;
    if (tty_mode) {
        /* "--console-socket PATH" before the ID */
        args[nargs + 1] = args[nargs - 1];
        args[nargs - 1] = "--console-socket";
        args[nargs] = consolepath;
        nargs += 2;
    }
    /* Without a tty the runtime's own errors land on the process's stderr (as with runc). */
    int st = run_runtime(args, nargs, c_in, c_out, c_err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        read_error(m_err, errbuf, sizeof errbuf);
        if (!errbuf[0]) snprintf(errbuf, sizeof errbuf, "skiff-shim: the runtime failed (status %d)\n", st);
        write_all(report[1], errbuf, strlen(errbuf));
        if (console_l >= 0) unlink(consolepath);
        return 1;
    }
    /* The process got its stdio from the runtime; our copies of its ends must go. */
    if (c_in != devnull) close(c_in);
    if (c_out != devnull) close(c_out);
    close(c_err);
    if (tty_mode) {
        close(m_err);
        m_err = -1;
        int master = recv_console(console_l);
        close(console_l);
        unlink(consolepath);
        if (master < 0) {
            snprintf(errbuf, sizeof errbuf, "skiff-shim: no console from the runtime\n");
            write_all(report[1], errbuf, strlen(errbuf));
            return 1;
        }
        m_in = m_out = master;
    }

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
    long long hold_until = hold_output ? mono_ms() + 60000 : 0;
    char buf[32768];
    while (!exited || m_out >= 0 || m_err >= 0) {
        int holding = hold_until && mono_ms() < hold_until;
        if (!holding) hold_until = 0;
        struct pollfd fds[5 + MAXCLIENTS];
        int n = 0;
        fds[n++] = (struct pollfd){sigpipe_fds[0], POLLIN, 0};
        fds[n++] = (struct pollfd){holding ? -1 : m_out, POLLIN, 0};
        fds[n++] = (struct pollfd){holding ? -1 : m_err, POLLIN, 0};
        fds[n++] = (struct pollfd){lsock, POLLIN, 0};
        fds[n++] = (struct pollfd){ctl, POLLIN, 0};
        for (int i = 0; i < MAXCLIENTS; i++)
            fds[n++] = (struct pollfd){clients[i], client_in[i] ? POLLIN : 0, 0};
        /* After the process exited, drain what is buffered, then leave. */
        int timeout = holding ? (int)(hold_until - mono_ms()) : exited ? 100 : -1;
        int r = poll(fds, (nfds_t)n, timeout < 0 && holding ? 0 : timeout);
        if (r < 0 && errno == EINTR) continue;
        if (exited && r == 0 && !holding) break;
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
                    if (clients[i] < 0) { clients[i] = c; client_in[i] = 1; placed = 1; }
                if (!placed) close(c);
                else hold_until = 0;  /* someone listens: output may flow */
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
                /* EOF, or EIO on a pty whose last slave closed */
                log_bytes(s, "", 0, 1);
                if (*fdp != m_in) close(*fdp);
                else m_in = -1, close(*fdp);
                *fdp = -1;
            }
        }
        if (fds[4].revents & POLLIN) {
            ssize_t got = read(ctl, buf, sizeof buf - 1);
            if (got > 0) {
                buf[got] = 0;
                char *save = NULL;
                for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                    unsigned short rows, cols;
                    int pty = tty_mode ? (m_out >= 0 ? m_out : m_in) : -1;
                    if (sscanf(line, "resize %hu %hu", &rows, &cols) == 2 && pty >= 0) {
                        struct winsize ws = {.ws_row = rows, .ws_col = cols};
                        ioctl(pty, TIOCSWINSZ, &ws);
                    } else if (strcmp(line, "close-stdin") == 0 && m_in >= 0) {
                        static char dbuf[32768];
                        drain_clients_into(m_in, dbuf, sizeof dbuf);
                        if (tty_mode) write_all(m_in, "\x04", 1);
                        else { close(m_in); m_in = -1; }
                    }
                }
            }
        }
        for (int i = 0; i < MAXCLIENTS; i++) {
            short rev = fds[5 + i].revents;
            if (clients[i] < 0 || !rev) continue;
            /* MSG_DONTWAIT: a "close-stdin" in this round may have drained what poll saw */
            ssize_t got = client_in[i] && (rev & POLLIN) ? recv(clients[i], buf, sizeof buf, MSG_DONTWAIT) : 0;
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
            if (got > 0) {
                if (m_in >= 0) write_all(m_in, buf, (size_t)got);
            } else if (rev & (POLLHUP | POLLERR) || got < 0) {
                close(clients[i]);  /* gone */
                clients[i] = -1;
            } else {
                client_in[i] = 0;  /* half-closed: it still reads output */
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
