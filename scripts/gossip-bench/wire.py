#!/usr/bin/env python3
"""A delaying wire between simulated hosts, for kernels without tc netem.

`bench:gossip --netns H` wants every link between two hosts to take a round
trip of 20-80 ms. Where the kernel has sch_netem, tc does that; where it does
not (some VM kernels), this program is the wire: each host namespace holds a
TUN device carrying the host's address, and every IP packet one host sends
to another is written to the other host's device after the one-way delay
between them. Standard library only (ctypes for setns).

    python3 wire.py '{"hosts": [{"ns": "snpb-h0", "dev": "snpbt", "subnet": "10.77.0", "delay_ms": 10}, ...]}'

Host i owns the /24 `subnet` (its nodes' addresses); a packet goes to the host
whose /24 holds its destination.

One-way delay from host a to host b: (delay_ms[a] + delay_ms[b]) / 2, so the
round trip between them is delay_ms[a] + delay_ms[b], as with netem on each
host's link. Prints "ready" once every device is open; exits when stdin closes.
"""
import ctypes
import fcntl
import heapq
import json
import os
import selectors
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)


def open_tun(ns: str, dev: str) -> int:
    """Attach to the persistent TUN device `dev` inside network namespace `ns`."""
    home = os.open('/proc/self/ns/net', os.O_RDONLY)
    target = os.open(f'/run/netns/{ns}', os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f'setns {ns}')
        fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', dev.encode(), IFF_TUN | IFF_NO_PI))
        return fd
    finally:
        libc.setns(home, CLONE_NEWNET)
        os.close(home)
        os.close(target)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    hosts = cfg['hosts']
    fds = [open_tun(h['ns'], h['dev']) for h in hosts]
    by_net = {bytes(int(x) for x in h['subnet'].split('.')): i for i, h in enumerate(hosts)}
    delay = [h['delay_ms'] / 1000 for h in hosts]
    sel = selectors.DefaultSelector()
    for i, fd in enumerate(fds):
        sel.register(fd, selectors.EVENT_READ, i)
    sel.register(sys.stdin, selectors.EVENT_READ, -1)
    due: list = []  # (time, seq, fd, packet)
    seq = 0
    sent = dropped = 0
    print('ready', flush=True)
    while True:
        timeout = None if not due else max(0.0, due[0][0] - time.monotonic())
        for key, _ in sel.select(timeout):
            src = key.data
            if src == -1:
                if not sys.stdin.readline():
                    return
                continue
            while True:
                try:
                    pkt = os.read(key.fd, 65536)
                except BlockingIOError:
                    break
                if len(pkt) < 20 or pkt[0] >> 4 != 4:
                    dropped += 1
                    continue
                dst = by_net.get(pkt[16:19])
                if dst is None or dst == src:
                    dropped += 1
                    continue
                seq += 1
                heapq.heappush(due, (time.monotonic() + (delay[src] + delay[dst]) / 2, seq, fds[dst], pkt))
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(due)
            try:
                os.write(fd, pkt)
                sent += 1
            except OSError:
                dropped += 1


if __name__ == '__main__':
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
