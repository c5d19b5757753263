"""Reply "<name> <peer address>" on TCP and UDP ``port``: a pod that says who it is and who asked."""
import socket
import sys
import threading

name, port = sys.argv[1], int(sys.argv[2])
tcp = socket.socket()
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("0.0.0.0", port))
tcp.listen(128)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("0.0.0.0", port))


def serve_udp() -> None:
    while True:
        _, peer = udp.recvfrom(512)
        udp.sendto(f"{name} {peer[0]}\n".encode(), peer)


threading.Thread(target=serve_udp, daemon=True).start()
print("ready", flush=True)
while True:
    conn, peer = tcp.accept()
    with conn:
        try:
            conn.recv(64)
            conn.sendall(f"{name} {peer[0]}\n".encode())
        except OSError:
            pass
