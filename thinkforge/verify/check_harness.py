"""The trusted side of a HumanEval-style test (`kind: program`), run in the sandbox as /prog/main.py.

This file is data for the sandbox: `thinkforge.verify.code` ships it with the candidate (/prog/solution.py); it
runs under the sandbox's system Python and imports nothing from thinkforge.

The candidate never runs in the process that decides. Before anything is read, this process makes itself
non-dumpable (its memory, descriptors and /proc entries are closed to the candidate) and forks the candidate
process, which swaps its stdin for /dev/null and its stdout for stderr, then loads the solution. Only then does this
process read the tests and a one-time nonce from stdin, run `check(candidate)` itself with `candidate` (and any
other name the tests take from the solution) a proxy that forwards each call to the candidate process, and print
the verdict line, prefixed with the nonce, on stdout. What comes back from a call is plain data (None, bool, int,
float, complex, str, bytes and lists, tuples, dicts, sets of them; the exact builtin types, no subclasses) rebuilt
here, so the tests' comparisons use Python's own `==`, never one the candidate defines. An exit, a crash, a hang or
an object that is not plain data during a call ends that call with an error, so `check` fails; a pass is printed
only after `check` has returned.
"""

import builtins
import ctypes
import json
import os
import struct
import sys

PR_SET_DUMPABLE = 4
MAX_MESSAGE = 64 * 2**20


def send(fd, obj):
    data = json.dumps(obj).encode()
    os.write(fd, struct.pack(">I", len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def receive(fd):
    head = read_exactly(fd, 4)
    if head is None:
        return None
    size = struct.unpack(">I", head)[0]
    if size > MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes")
    body = read_exactly(fd, size)
    return None if body is None else json.loads(body)


def read_exactly(fd, size):
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 2**20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class NotPlainData(TypeError):
    pass


def encode(value, depth=0):
    """Plain data as tagged JSON; anything else (a subclass, a custom object) is refused."""
    if depth > 100:
        raise NotPlainData("nested more than 100 levels")
    kind = type(value)
    if value is None:
        return ["none"]
    if kind is bool:
        return ["bool", value]
    if kind is int:
        return ["int", str(value)]
    if kind is float:
        return ["float", repr(value)]
    if kind is complex:
        return ["complex", repr(value.real), repr(value.imag)]
    if kind is str:
        return ["str", value]
    if kind is bytes:
        return ["bytes", value.hex()]
    if kind in (list, tuple, set, frozenset):
        return [kind.__name__, [encode(v, depth + 1) for v in value]]
    if kind is dict:
        return ["dict", [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]]
    raise NotPlainData(f"a {kind.__module__}.{kind.__qualname__} object, not plain data")


def decode(item, depth=0):
    if depth > 100:
        raise NotPlainData("nested more than 100 levels")
    tag = item[0]
    if tag == "none":
        return None
    if tag == "bool":
        return bool(item[1])
    if tag == "int":
        return int(item[1])
    if tag == "float":
        return float(item[1])
    if tag == "complex":
        return complex(float(item[1]), float(item[2]))
    if tag == "str":
        return str(item[1])
    if tag == "bytes":
        return bytes.fromhex(item[1])
    if tag in ("list", "tuple", "set", "frozenset"):
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](
            decode(v, depth + 1) for v in item[1]
        )
    if tag == "dict":
        return {decode(k, depth + 1): decode(v, depth + 1) for k, v in item[1]}
    raise NotPlainData(f"unknown tag {tag!r}")


def candidate_process(calls, results):
    """Load the solution, then answer calls until the decider closes the pipe. Never returns."""
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdin = open(0, closefd=False)
    namespace = {"__name__": "__solution__", "__builtins__": builtins}
    try:
        with open("/prog/solution.py", encoding="utf-8") as f:
            source = f.read()
        exec(compile(source, "solution.py", "exec"), namespace)
    except BaseException as e:  # noqa: BLE001 - any failure to load is the verdict
        send(results, {"load_error": f"{type(e).__name__}: {e}"[:300]})
        os._exit(0)
    send(results, {"loaded": True})
    while True:
        request = receive(calls)
        if request is None:
            os._exit(0)
        fn = namespace.get(request["name"])
        if not callable(fn):
            send(results, {"missing": request["name"]})
            continue
        try:
            value = fn(*decode(request["args"]))
            send(results, {"value": encode(value)})
        except NotPlainData as e:
            send(results, {"error": f"returned {e}"})
        except BaseException as e:  # noqa: BLE001 - reported to the decider as the call's error
            send(results, {"error": f"raised {type(e).__name__}: {e}"[:300]})


class CandidateError(Exception):
    """A call into the solution did not return plain data."""


class Remote:
    def __init__(self, link, name):
        self.link, self.__name__ = link, name

    def __call__(self, *args):
        return self.link.call(self.__name__, list(args))

    def __repr__(self):
        return f"<solution function {self.__name__}>"


class Link:
    def __init__(self, pid, calls, results):
        self.pid, self.calls, self.results = pid, calls, results

    def ended(self, when="during the call"):
        try:
            pid, status = os.waitpid(self.pid, 0)
            return f"the solution's process ended {when} ({describe_status(status)})"
        except ChildProcessError:
            return f"the solution's process ended {when}"

    def call(self, name, args):
        try:
            send(self.calls, {"name": name, "args": encode(args)})
        except BrokenPipeError:
            raise CandidateError(self.ended()) from None
        reply = receive(self.results)
        if reply is None:
            raise CandidateError(self.ended())
        if "missing" in reply:
            raise NameError(f"the solution defines no function {name!r}")
        if "error" in reply:
            raise CandidateError(f"{name}() {reply['error']}")
        return decode(reply["value"])


def describe_status(status):
    if os.WIFEXITED(status):
        return f"exit status {os.WEXITSTATUS(status)}"
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"status {status}"


class TestGlobals(dict):
    """The tests' globals: a name they do not define and that is not a builtin is the solution's (e.g. a helper
    defined in the HumanEval prompt), reached through the proxy."""

    def __init__(self, link):
        super().__init__(__name__="__tests__", __builtins__=builtins)
        self.link = link

    def __missing__(self, name):
        if hasattr(builtins, name):
            raise KeyError(name)
        return Remote(self.link, name)


def main():
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    calls_r, calls_w = os.pipe()
    results_r, results_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(calls_w)
        os.close(results_r)
        candidate_process(calls_r, results_w)
    os.close(calls_r)
    os.close(results_w)
    spec = json.loads(sys.stdin.read())
    nonce = spec["nonce"]

    def verdict(passed, detail):
        sys.stdout.write(f"\n{nonce} {json.dumps({'passed': passed, 'detail': detail[:300]})}\n")
        sys.stdout.flush()
        os._exit(0)

    link = Link(pid, calls_w, results_r)
    loaded = receive(results_r)
    if loaded is None:
        verdict(False, link.ended("while loading"))
    if "load_error" in loaded:
        verdict(False, f"the solution failed to load: {loaded['load_error']}")
    tests = TestGlobals(link)
    try:
        exec(compile(spec["tests"], "tests.py", "exec"), tests)
        tests["check"](Remote(link, spec["entry_point"]))
    except AssertionError as e:
        verdict(False, f"assertion failed{': ' + str(e) if str(e) else ''}")
    except BaseException as e:  # noqa: BLE001 - every other way check() does not return is a failure
        verdict(False, f"{type(e).__name__}: {e}")
    verdict(True, "check() returned")


main()
