"""Control plane (issue 13 section 4): a JSON-RPC request nested 100,000 deep (a 200 KB line)
overflowed the stack and took the whole target down. Now it is answered with a JSON-RPC parse
error (-32700), and the same connection, the control socket and iSCSI keep serving."""
import json
import socket

from vstor_fixture import Server, check, main


def ask(sock, reader, line):
    sock.sendall(line.encode() + b"\n")
    reply = reader.readline()
    check(reply, "the control socket closed instead of answering")
    return json.loads(reply)


def run(args):
    with Server(args, ["--lun", "mem:16M"], control=True) as srv:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(srv.control)
        reader = s.makefile("rb")
        # Deep params took the target down (copying them recursed once per level); deep ids,
        # objects and batches are refused the same way.
        deep = "[" * 100000 + "]" * 100000
        for what, line in (("params", '{"jsonrpc":"2.0","id":1,"method":"status","params":' + deep + "}"),
                           ("id", '{"jsonrpc":"2.0","id":' + deep + ',"method":"status"}'),
                           ("object", '{"a":' * 100000 + "1" + "}" * 100000),
                           ("batch", deep)):
            reply = ask(s, reader, line)
            check(isinstance(reply, dict) and reply.get("error", {}).get("code") == -32700,
                  f"{what} nested 100,000 deep: expected a parse error, got {str(reply)[:200]}")
            check("64" in reply["error"]["message"], f"the message does not give the limit: {reply}")
            check(srv.alive(), "vstor died on a deeply nested request")
        # The same connection still works, and so does the rest of the target.
        status = ask(s, reader, '{"jsonrpc":"2.0","id":7,"method":"status"}')
        check(status.get("id") == 7 and "result" in status, f"status after the deep request: {status}")
        s.close()
        r = srv.ctl("status")
        check("iqn.2026-11.org.vstor:disk0" in r.stdout, f"ctl status: {r.stdout}")
        with socket.create_connection(("127.0.0.1", srv.iscsi_port), timeout=5):
            pass
        check(srv.stop() == 0, "vstor did not exit 0 on SIGTERM")


main(run)
