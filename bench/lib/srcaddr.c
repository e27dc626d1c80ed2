/*
 * LD_PRELOAD shim for bench/compare.sh (the stick_close64_keys row): every
 * connect() to an IPv4 loopback address first binds the socket to the next
 * of RP_SRC_KEYS source addresses 127.1.B.A (A = 1..250), in turn, so that
 * a proxy tracking clients by source address sees RP_SRC_KEYS different
 * keys instead of one (127.0.0.1). The port is left to connect()
 * (IP_BIND_ADDRESS_NO_PORT), as an unbound socket would get it.
 * Without RP_SRC_KEYS (or 0), connect() is untouched.
 *
 * Build: cc -O2 -shared -fPIC -o srcaddr.so srcaddr.c -ldl
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_KEYS (250u * 256u)

static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static atomic_uint next_key;
static unsigned nkeys;

__attribute__((constructor)) static void srcaddr_init(void)
{
    const char *s = getenv("RP_SRC_KEYS");
    real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    nkeys = s ? (unsigned)strtoul(s, NULL, 10) : 0;
    if (nkeys > MAX_KEYS)
        nkeys = MAX_KEYS;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (!real_connect) {
        errno = ENOSYS;
        return -1;
    }
    if (nkeys && addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *dst = (const struct sockaddr_in *)addr;
        if ((ntohl(dst->sin_addr.s_addr) >> 24) == 127) {
            unsigned i = atomic_fetch_add(&next_key, 1) % nkeys;
            struct sockaddr_in src = {0};
            int one = 1;
            src.sin_family = AF_INET;
            src.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((i / 250u) << 8) | (1u + i % 250u));
            (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            if (bind(fd, (const struct sockaddr *)&src, sizeof src) != 0)
                return -1;
        }
    }
    return real_connect(fd, addr, len);
}
