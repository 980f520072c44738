import threading

from streamprocessor import Message
from streamprocessor.stores import InmemStore, default_store


def test_add_keeps_order_and_copies():
    s = InmemStore()
    m = Message(value=b"a", tags={"t": b"1"})
    s.add(m)
    s.add(Message(value=b"b"))
    m.value = b"changed"
    m.tags["t"] = b"changed"
    got = s.messages()
    assert [x.value for x in got] == [b"a", b"b"]
    assert got[0].tags == {"t": b"1"}


def test_mutating_a_read_message_does_not_change_the_store():
    s = InmemStore()
    s.add(Message(value=b"a", tags={"t": b"1"}))
    s.messages()[0].tags["t"] = b"x"
    assert s.messages()[0].tags == {"t": b"1"}


def test_delete_removes_only_one_of_two_identical_messages():
    s = InmemStore()
    s.add(Message(value=b"same"))
    s.add(Message(value=b"same"))
    s.delete(Message(value=b"same"))
    assert [m.value for m in s.messages()] == [b"same"]


def test_delete_without_match_changes_nothing():
    s = InmemStore()
    s.add(Message(value=b"a"))
    s.delete(Message(value=b"b"))
    assert len(s) == 1


def test_flush_empties_the_store():
    s = InmemStore()
    s.add(Message(value=b"a"))
    s.flush()
    assert s.messages() == []


def test_concurrent_adds_lose_nothing():
    s = InmemStore()

    def run(t):
        for i in range(500):
            s.add(Message(value=b"%d-%d" % (t, i)))

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(s) == 2000


def test_lease_waits_for_a_new_message_without_polling():
    s = InmemStore()
    got = []
    t = threading.Thread(target=lambda: got.extend(s.lease("me", 0, 10, 5.0)))
    t.start()
    threading.Timer(0.2, lambda: s.add(Message(value=b"late"))).start()
    t.join(5)
    assert [snap[0] for _, snap in got] == [b"late"]


def test_leased_entries_go_to_no_other_owner_until_released():
    s = InmemStore()
    s.add(Message(value=b"a"))
    assert len(s.lease("one", 0, 10, 0)) == 1
    assert s.lease("two", 0, 10, 0) == []
    s.release("one")
    assert len(s.lease("two", 0, 10, 0)) == 1


def test_default_store_is_one_per_process():
    assert default_store() is default_store()
