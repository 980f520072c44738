"""Signals end consumer iteration cleanly (real subprocesses, real signals)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

PROGRAM = textwrap.dedent(
    """
    import sys, time
    from streamprocessor import Message, options
    from streamprocessor.clients import inmem
    from streamprocessor.stores import InmemStore

    store = InmemStore()
    for i in range(3):
        store.add(Message(value=b"m%d" % i))
    out = InmemStore()
    with inmem.new_consumer(options.inmem_store(store), options.inmem_listen()) as c, \\
            inmem.new_producer(options.inmem_store(out)) as p:
        for m in c:
            p.send(m)
            c.ack(m)
            print("handled", m.value.decode(), flush=True)
    print("loop ended; left in store:", len(store), "out:", len(out), flush=True)
    if len(sys.argv) > 1:
        time.sleep(float(sys.argv[1]))
    """
)


def _start(*args):
    env = {**os.environ, "CONSUMER_SHUTDOWN_TIMEOUT": "1s"}
    return subprocess.Popen(
        [sys.executable, "-c", PROGRAM, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
    )


def _wait_for(proc, text, timeout=30):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"never saw {text!r}: {lines}")


def test_sigterm_ends_the_loop_and_the_program_exits_0():
    proc = _start()
    _wait_for(proc, "handled m2")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert "loop ended; left in store: 0 out: 3" in out.decode()


def test_sigint_ends_the_loop_too():
    proc = _start()
    _wait_for(proc, "handled m2")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert "loop ended" in out.decode()


def test_signal_outside_a_consume_loop_is_pythons_usual_exit():
    code = textwrap.dedent(
        """
        import time
        from streamprocessor import options
        from streamprocessor.clients import inmem
        from streamprocessor.stores import InmemStore
        with inmem.new_producer(options.inmem_store(InmemStore())):
            print("ready", flush=True)
            time.sleep(30)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    _wait_for(proc, "ready")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGINT  # how Python ends on an uncaught KeyboardInterrupt
    assert b"KeyboardInterrupt" in err


def test_previous_handlers_come_back_after_the_last_client_closes():
    code = textwrap.dedent(
        """
        import signal
        from streamprocessor import options
        from streamprocessor.clients import inmem
        from streamprocessor.stores import InmemStore
        mine = lambda s, f: None
        signal.signal(signal.SIGTERM, mine)
        with inmem.new_producer(options.inmem_store(InmemStore())):
            assert signal.getsignal(signal.SIGTERM) is not mine
        assert signal.getsignal(signal.SIGTERM) is mine
        print("ok")
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=False)
    assert r.stdout.strip() == b"ok", r.stderr.decode()


def test_clients_made_off_the_main_thread_skip_signal_handling():
    code = textwrap.dedent(
        """
        import signal, threading
        from streamprocessor import options
        from streamprocessor.clients import inmem
        from streamprocessor.stores import InmemStore
        before = signal.getsignal(signal.SIGTERM)
        def run():
            with inmem.new_producer(options.inmem_store(InmemStore())):
                assert signal.getsignal(signal.SIGTERM) is before
        t = threading.Thread(target=run); t.start(); t.join()
        print("ok")
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=False)
    assert r.stdout.strip() == b"ok", r.stderr.decode()


def test_manual_interrupt_handling_leaves_signals_alone():
    code = textwrap.dedent(
        """
        import signal
        from streamprocessor import options
        from streamprocessor.clients import inmem
        from streamprocessor.stores import InmemStore
        before = signal.getsignal(signal.SIGINT)
        opts = [options.inmem_store(InmemStore()), options.manual_interrupt_handling()]
        with inmem.new_producer(*opts):
            assert signal.getsignal(signal.SIGINT) is before
        print("ok")
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=False)
    assert r.stdout.strip() == b"ok", r.stderr.decode()


def test_watchdog_is_cancelled_once_the_clients_are_closed():
    proc = _start("3")
    _wait_for(proc, "handled m2")
    proc.send_signal(signal.SIGTERM)
    _wait_for(proc, "loop ended")
    # the clients are closed, so the 1 s shutdown timeout no longer applies
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()


def test_shutdown_watchdog_exits_1_when_the_handler_does_not_finish():
    code = textwrap.dedent(
        """
        import time
        from streamprocessor import Message, options
        from streamprocessor.clients import inmem
        from streamprocessor.stores import InmemStore
        store = InmemStore()
        store.add(Message(value=b"slow"))
        with inmem.new_consumer(options.inmem_store(store), options.inmem_listen(),
                                options.shutdown_timeout("1s")) as c:
            for m in c:
                print("handling", flush=True)
                time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    _wait_for(proc, "handling")
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert time.monotonic() - start < 10
    assert b"Timed out after 1s while shutting down after SIGTERM" in err


def test_second_sigint_exits_1_at_once():
    code = textwrap.dedent(
        """
        import time
        from streamprocessor import Message, options
        from streamprocessor.clients import inmem
        from streamprocessor.stores import InmemStore
        store = InmemStore()
        store.add(Message(value=b"slow"))
        with inmem.new_consumer(options.inmem_store(store), options.inmem_listen()) as c:
            for m in c:
                print("handling", flush=True)
                time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    _wait_for(proc, "handling")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 1
    assert b"Second interrupt" in err


def test_reset_cancels_the_shutdown_deadline_of_the_interrupt_it_forgets():
    code = textwrap.dedent(
        """
        import os, signal, threading, time
        from streamprocessor import options
        from streamprocessor.clients import inmem
        from streamprocessor.stores import InmemStore
        from streamprocessor.util.interrupts import COORDINATOR
        c = inmem.new_consumer(options.inmem_store(InmemStore()), options.inmem_listen(),
                               options.shutdown_timeout("500ms"))
        loop = threading.Thread(target=lambda: list(c))
        loop.start()
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)   # c stays open: the watchdog is armed
        while COORDINATOR.interrupted is None:
            time.sleep(0.01)
        loop.join()
        COORDINATOR.reset()
        time.sleep(1.5)                        # past the deadline
        print("still running", flush=True)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"still running\n"
