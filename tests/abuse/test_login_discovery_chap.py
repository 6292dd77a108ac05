"""Discovery authentication: with --discovery-chap a SendTargets session must pass CHAP, so
iscsi-ls without credentials (or with a wrong secret) learns nothing and with them lists the
target; `vstor ctl chap set --discovery` changes it at run time. Before: discovery needed no
authentication and could not be given any."""
from iscsi_pdu import Conn
from vstor_fixture import Server, check, main, run_tool

TARGET = "iqn.2026-11.org.vstor:disk0"
DISCO = ("disco", "adiscoverysecret1")


def iscsi_ls(port, creds=None):
    auth = f"{creds[0]}%{creds[1]}@" if creds else ""
    return run_tool(["iscsi-ls", f"iscsi://{auth}127.0.0.1:{port}"], timeout=20)


def lists_target(r):
    return r.returncode == 0 and TARGET in r.stdout


def run(args):
    with Server(args, ["--lun", "mem:16M", "--discovery-chap", ":".join(DISCO)], control=True) as srv:
        r = iscsi_ls(srv.iscsi_port)
        check(not lists_target(r), f"iscsi-ls without credentials listed the targets: {r.stdout!r}")
        check(r.returncode != 0, "iscsi-ls without credentials exited 0")
        r = iscsi_ls(srv.iscsi_port, (DISCO[0], "a-wrong-secret-here"))
        check(not lists_target(r), "iscsi-ls with a wrong secret listed the targets")
        r = iscsi_ls(srv.iscsi_port, DISCO)
        check(lists_target(r), f"iscsi-ls with the discovery credentials failed: rc {r.returncode} {r.stdout!r} {r.stderr!r}")
        with Conn(srv.iscsi_port) as c:  # a raw discovery login offering no CHAP: authentication failure
            st = c.login().status
            check(st == 0x0201, f"discovery login without CHAP answered {st:04x}, not 0201")
        check("discovery chap: on" in srv.ctl("status").stdout, "ctl status does not show discovery CHAP")

        # At run time: cleared, discovery is open again; new credentials replace the old ones.
        srv.ctl("chap", "set", "--discovery", "--clear")
        check(lists_target(iscsi_ls(srv.iscsi_port)), "discovery still needs CHAP after chap set --discovery --clear")
        srv.ctl("chap", "set", "--discovery", "another:anothersecret12")
        check(not lists_target(iscsi_ls(srv.iscsi_port)), "discovery open after chap set --discovery")
        check(not lists_target(iscsi_ls(srv.iscsi_port, DISCO)), "the replaced discovery credentials still work")
        check(lists_target(iscsi_ls(srv.iscsi_port, ("another", "anothersecret12"))),
              "the new discovery credentials do not work")
        r = srv.ctl("chap", "set", "--discovery", "short:secret", check_rc=False)
        check(r.returncode != 0 and "12" in r.stderr, f"a short discovery secret was accepted: {r.stderr!r}")
        check(srv.alive(), "vstor died")


main(run)
