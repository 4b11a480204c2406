#!/usr/bin/python3
"""Lists the hosts that still run Kaspersky, from a ksweep collector's fleet API.

A short example of scripting the FleetService with grpcio and stubs generated from ksweep's .proto files:
ListHosts with a verdict filter, following page tokens to the last page.

Run it with Debian's /usr/bin/python3 (python3-grpcio, python3-protobuf), the stubs built by `ninja python_stubs`:

    /usr/bin/python3 examples/python/list_running.py --server 127.0.0.1:7444 --stubs build/python

Prints one line per host: hostname, host id, products, last seen (tab-separated); exit code 0 when it could ask,
4 when the collector is unreachable, 2 for bad arguments or a filter the collector rejects, 1 otherwise
(the same codes as the ksweep CLI).
"""

import argparse
import os
import sys

DEFAULT_SERVER = "127.0.0.1:7444"
EXIT_ERROR, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 4


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
    parser.add_argument("--page-size", type=int, default=100, help="hosts per ListHosts call (1 to 1000)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds each call may take (default 10)")
    return parser.parse_args()


def import_stubs(stubs):
    if not stubs:
        stubs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "python")
    sys.path.insert(0, stubs)
    try:
        import grpc
        from ksweep.v1 import fleet_pb2, fleet_pb2_grpc, report_pb2
    except ImportError as e:
        sys.stderr.write("list_running: cannot import grpc or the ksweep stubs from %s (%s); build them with "
                         "`ninja python_stubs` and run with /usr/bin/python3\n" % (stubs, e))
        sys.exit(EXIT_ERROR)
    return grpc, fleet_pb2, fleet_pb2_grpc, report_pb2


def main():
    args = parse_args()
    grpc, fleet_pb2, fleet_pb2_grpc, report_pb2 = import_stubs(args.stubs)
    try:
        verdict = report_pb2.Verdict.Value("VERDICT_" + args.verdict.upper())
    except ValueError:
        sys.stderr.write("list_running: unknown verdict %r\n" % args.verdict)
        return EXIT_USAGE

    with grpc.insecure_channel(args.server) as channel:  # plain text until TLS lands
        stub = fleet_pb2_grpc.FleetServiceStub(channel)
        request = fleet_pb2.ListHostsRequest(filter=fleet_pb2.HostFilter(verdicts=[verdict]),
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
                sys.stderr.write("list_running: ListHosts failed: %s: %s\n" % (code.name, e.details()))
                return EXIT_USAGE if code == grpc.StatusCode.INVALID_ARGUMENT else EXIT_ERROR
            for host in response.hosts:
                last_seen = host.last_seen.ToJsonString() if host.HasField("last_seen") else ""
                print("\t".join([host.hostname, host.host_id, ",".join(host.products), last_seen]))
            if not response.next_page_token:
                return 0
            request.page_token = response.next_page_token


if __name__ == "__main__":
    sys.exit(main())
