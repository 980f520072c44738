import logging
import threading

import pytest

from streamprocessor import ClientClosedError, ClientError, Message, options
from streamprocessor.clients import inmem
from streamprocessor.stream import ManualErrorsDisabledError
from streamprocessor.util import errors


def test_default_handling_closes_the_client_and_raises_at_the_next_call(inmem_store, caplog):
    caplog.set_level(logging.DEBUG)
    p = inmem.new_producer(options.inmem_store(inmem_store))
    p.fail(ClientError("boom"))
    with pytest.raises(ClientError, match="boom"):
        p.send(Message(value=b"x"))
    assert p.closed
    # whoever catches the error reports it (the runner at ERROR): here only DEBUG
    assert [r.levelno for r in caplog.records if "boom" in r.getMessage()] == [logging.DEBUG]
    with pytest.raises(ClientClosedError):
        p.send(Message(value=b"x"))
    p.close()  # raised once already: close is quiet now


def test_default_handling_raises_from_iteration(inmem_store):
    inmem_store.add(Message(value=b"a"))
    c = inmem.new_consumer(options.inmem_store(inmem_store), options.inmem_listen())
    it = iter(c)
    assert next(it).value == b"a"
    c.fail(ClientError("consumer broke"))
    with pytest.raises(ClientError, match="consumer broke"):
        next(it)


def test_a_failure_is_raised_by_close_when_nothing_else_raised_it(inmem_store):
    p = inmem.new_producer(options.inmem_store(inmem_store))
    p.fail(ClientError("late"))
    with pytest.raises(ClientError, match="late"):
        p.close()


def test_with_block_raises_the_failure_once(inmem_store):
    with (
        pytest.raises(ClientError, match="inside"),
        inmem.new_producer(options.inmem_store(inmem_store)) as p,
    ):
        p.fail(ClientError("inside"))
        p.send(Message(value=b"x"))


def test_manual_handling_delivers_errors_on_the_channel(inmem_store):
    p = inmem.new_producer(options.inmem_store(inmem_store), options.manual_error_handling())
    p.fail(ClientError("one"))
    p.fail(ClientError("two"))
    p.send(Message(value=b"still works"))
    p.close()
    assert [str(e) for e in p.errors()] == ["one", "two"]


def test_errors_under_default_handling_explains_itself(inmem_store):
    p = inmem.new_producer(options.inmem_store(inmem_store))
    (err,) = list(p.errors())
    assert isinstance(err, ManualErrorsDisabledError)
    assert "manual_error_handling" in str(err)


def test_util_errors_merges_several_clients_and_ends_when_all_close(inmem_store):
    a = inmem.new_producer(options.inmem_store(inmem_store), options.manual_error_handling())
    b = inmem.new_consumer(options.inmem_store(inmem_store), options.manual_error_handling())
    merged = errors(a, None, b)
    got: list[str] = []
    t = threading.Thread(target=lambda: got.extend(str(e) for e in merged))
    t.start()
    a.fail(ClientError("from a"))
    b.fail(ClientError("from b"))
    a.close()
    b.close()
    t.join(5)
    assert sorted(got) == ["from a", "from b"]
