#!/usr/bin/python3
"""Lists the hosts that still run Kaspersky, from a ksweep collector's fleet API.

A short example of scripting the FleetService with grpcio and stubs generated from ksweep's .proto files:
ListHosts with a verdict filter, following page tokens to the last page.

Run it with Debian's /usr/bin/python3 (python3-grpcio, python3-protobuf), the stubs built by `ninja python_stubs`:

    KSWEEP_TOKEN_FILE=~/.ksweep-token KSWEEP_CA_CERT=/var/lib/ksweep/pki/ca.pem \
        /usr/bin/python3 examples/python/list_running.py --server collector.example.org:7444 --stubs build/python

TLS by default: the collector's certificate must chain to --ca-cert (or $KSWEEP_CA_CERT). The API token (a viewer
token is enough) comes from $KSWEEP_TOKEN, or from the file named by --token-file or $KSWEEP_TOKEN_FILE; never from
a command-line argument, which any user can read in `ps`. --insecure talks plain text to an --insecure collector.

Prints one line per host: hostname, host id, products, platform (linux, windows, macos), last seen (tab-separated);
exit code 0 when it could ask, 4 when the collector is unreachable, 2 for bad arguments or a filter the collector
rejects, 5 when the collector refuses the token, 1 otherwise (the same codes as the ksweep CLI).
"""

import argparse
import os
import sys

DEFAULT_SERVER = "127.0.0.1:7444"
EXIT_ERROR, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REFUSED = 1, 2, 4, 5


def parse_args():
    parser = argparse.ArgumentParser(description="List hosts still running Kaspersky (ksweep FleetService).")
    parser.add_argument("--server", default=os.environ.get("KSWEEP_SERVER") or DEFAULT_SERVER,
                        help="collector fleet API HOST:PORT (default $KSWEEP_SERVER, else %s)" % DEFAULT_SERVER)
    parser.add_argument("--stubs", default=os.environ.get("KSWEEP_PYTHON_STUBS"),
                        help="folder holding the generated ksweep/v1/*_pb2*.py (default $KSWEEP_PYTHON_STUBS, "
                             "else build/python next to this repository's root)")
    parser.add_argument("--verdict", default="running",
                        help="list hosts with this verdict instead: running (default), installed, remnant, "
                             "clean, stale")
    parser.add_argument("--platform", default="",
                        help="only hosts of these platforms: a comma list of linux, windows, macos (default: all)")
    parser.add_argument("--page-size", type=int, default=100, help="hosts per ListHosts call (1 to 1000)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds each call may take (default 10)")
    parser.add_argument("--ca-cert", default=os.environ.get("KSWEEP_CA_CERT"),
                        help="the collector's CA certificate, PEM (default $KSWEEP_CA_CERT)")
    parser.add_argument("--token-file", default=os.environ.get("KSWEEP_TOKEN_FILE"),
                        help="file holding the API token, used when $KSWEEP_TOKEN is not set "
                             "(default $KSWEEP_TOKEN_FILE)")
    parser.add_argument("--insecure", action="store_true",
                        help="plain text, no token sent: only for a collector started with --insecure")
    return parser.parse_args()


def read_token(args):
    token = os.environ.get("KSWEEP_TOKEN")
    if not token and args.token_file:
        with open(args.token_file) as f:
            token = f.read()
    return (token or "").strip()


def make_channel(grpc, args):
    """A TLS channel carrying the bearer token on every call, or plain text with --insecure."""
    if args.insecure:
        return grpc.insecure_channel(args.server)
    if not args.ca_cert:
        raise ValueError("TLS needs the collector's CA certificate: --ca-cert FILE or KSWEEP_CA_CERT "
                         "(or --insecure for a plain-text collector)")
    with open(args.ca_cert, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    token = read_token(args)
    if token:
        # Sent as `authorization: Bearer <token>`; gRPC refuses to send call credentials over plain text.
        creds = grpc.composite_channel_credentials(creds, grpc.access_token_call_credentials(token))
    return grpc.secure_channel(args.server, creds)


def import_stubs(stubs):
    if not stubs:
        stubs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "python")
    sys.path.insert(0, stubs)
    try:
        import grpc
        from ksweep.v1 import fleet_pb2, fleet_pb2_grpc, report_pb2, rules_pb2
    except ImportError as e:
        sys.stderr.write("list_running: cannot import grpc or the ksweep stubs from %s (%s); build them with "
                         "`ninja python_stubs` and run with /usr/bin/python3\n" % (stubs, e))
        sys.exit(EXIT_ERROR)
    return grpc, fleet_pb2, fleet_pb2_grpc, report_pb2, rules_pb2


def platform_name(rules_pb2, platform):
    """"windows" for PLATFORM_WINDOWS; "" when the collector did not say (one from before platforms)."""
    if platform == rules_pb2.PLATFORM_UNSPECIFIED:
        return ""
    return rules_pb2.Platform.Name(platform)[len("PLATFORM_"):].lower()


def main():
    args = parse_args()
    grpc, fleet_pb2, fleet_pb2_grpc, report_pb2, rules_pb2 = import_stubs(args.stubs)
    try:
        verdict = report_pb2.Verdict.Value("VERDICT_" + args.verdict.upper())
    except ValueError:
        sys.stderr.write("list_running: unknown verdict %r\n" % args.verdict)
        return EXIT_USAGE
    platforms = []
    for name in filter(None, (p.strip() for p in args.platform.split(","))):
        try:
            platforms.append(rules_pb2.Platform.Value("PLATFORM_" + name.upper()))
        except ValueError:
            sys.stderr.write("list_running: unknown platform %r (expected linux, windows or macos)\n" % name)
            return EXIT_USAGE

    try:
        channel = make_channel(grpc, args)
    except (OSError, ValueError) as e:
        sys.stderr.write("list_running: %s\n" % e)
        return EXIT_USAGE
    with channel:
        stub = fleet_pb2_grpc.FleetServiceStub(channel)
        request = fleet_pb2.ListHostsRequest(filter=fleet_pb2.HostFilter(verdicts=[verdict], platforms=platforms),
                                             order_by=fleet_pb2.HOST_ORDER_HOSTNAME,
                                             page_size=args.page_size)
        while True:
            try:
                response = stub.ListHosts(request, timeout=args.timeout)
            except grpc.RpcError as e:
                code = e.code()
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    sys.stderr.write("list_running: cannot reach the collector at %s (%s)\n"
                                     % (args.server, e.details()))
                    return EXIT_UNREACHABLE
                if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    sys.stderr.write("list_running: the collector at %s refused the call: %s (token from "
                                     "KSWEEP_TOKEN, --token-file or KSWEEP_TOKEN_FILE)\n" % (args.server, e.details()))
                    return EXIT_REFUSED
                sys.stderr.write("list_running: ListHosts failed: %s: %s\n" % (code.name, e.details()))
                return EXIT_USAGE if code == grpc.StatusCode.INVALID_ARGUMENT else EXIT_ERROR
            for host in response.hosts:
                last_seen = host.last_seen.ToJsonString() if host.HasField("last_seen") else ""
                print("\t".join([host.hostname, host.host_id, ",".join(host.products),
                                 platform_name(rules_pb2, host.platform), last_seen]))
            if not response.next_page_token:
                return 0
            request.page_token = response.next_page_token


if __name__ == "__main__":
    sys.exit(main())
