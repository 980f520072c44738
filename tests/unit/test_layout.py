"""The shape of the package: its public surface, private modules, no import cycles.

The public surface is pinned: every public module and the names it exports. A change to
it is a change to this file, made on purpose. Every other module is private: either its
name starts with ``_``, or it is the home of names its package exports (``HOME``: import
those names from the package, not from the module).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import streamprocessor

SRC = Path(streamprocessor.__file__).resolve().parent.parent

#: every public module → the names it exports (its __all__)
PUBLIC: dict[str, set[str]] = {
    'streamprocessor': {
        'AsyncConsumer', 'AsyncProducer', 'new_async_consumer', 'new_async_producer',
        'BatchConsumer', 'ClientClosedError', 'ClientError', 'ConfigError', 'Consumer',
        'DeliveryError', 'FlushTimeoutError', 'InvalidMessageError', 'LineTooLongError',
        'Message', 'MissingDependencyError', 'Producer', 'StreamProcessorError',
        'UnknownClientError', '__version__', 'new_consumer', 'new_producer', 'options',
    },
    'streamprocessor.stream': {
        'AsyncConsumer', 'AsyncProducer',
        'BatchConsumer', 'ClientClosedError', 'ClientError', 'ConfigError', 'Consumer',
        'ConsumerMock', 'DeliveryError', 'ErrorCloser', 'FlushTimeoutError',
        'InvalidMessageError', 'LineTooLongError', 'ManualErrorsDisabledError', 'Message',
        'MissingDependencyError', 'OpaqueAlreadySet', 'Producer', 'ProducerMock', 'Store',
        'StreamProcessorError', 'UnknownClientError', 'message_opaque', 'set_message_opaque',
        'test_message',
    },
    'streamprocessor.stores': {
        'InmemStore', 'default_store',
    },
    'streamprocessor.options': {
        'ConsumerOption', 'Option', 'ProducerOption', 'ack_barrier', 'consumer_options',
        'disable_environment_config', 'inmem_listen', 'inmem_store', 'interrupt_coordinator',
        'kafka_broker', 'kafka_commit_interval', 'kafka_compression_codec',
        'kafka_connect_timeout', 'kafka_debug', 'kafka_group_id', 'kafka_group_id_random',
        'kafka_handle_transient_errors', 'kafka_heartbeat_interval', 'kafka_id',
        'kafka_librdkafka_config', 'kafka_max_delivery_retries',
        'kafka_max_in_flight_requests', 'kafka_max_poll_interval',
        'kafka_max_queue_buffer_duration', 'kafka_max_queue_size_kbytes',
        'kafka_max_queue_size_messages', 'kafka_offset_head', 'kafka_offset_initial',
        'kafka_offset_tail', 'kafka_ordered_delivery', 'kafka_require_all_ack',
        'kafka_require_leader_ack', 'kafka_require_no_ack', 'kafka_retry_backoff',
        'kafka_sasl', 'kafka_security_protocol', 'kafka_session_timeout', 'kafka_ssl',
        'kafka_statistics_interval', 'kafka_topic', 'logger', 'manual_error_handling',
        'manual_interrupt_handling', 'name', 'producer_options', 'shutdown_timeout',
        'standardstream_max_line_size', 'standardstream_reader', 'standardstream_writer',
    },
    'streamprocessor.config': {
        'ClientConfig', 'ClientKind', 'Compression', 'ConfigError', 'ConsumerConfig',
        'ConsumerOption', 'InmemConsumerConfig', 'InmemProducerConfig', 'KafkaConsumerConfig',
        'KafkaDebug', 'KafkaProducerConfig', 'Offset', 'Option', 'ProducerConfig',
        'ProducerOption', 'Protocol', 'SASLConfig', 'SSLConfig', 'Section',
        'StandardstreamConsumerConfig', 'StandardstreamProducerConfig', 'VARIABLES',
        'Variable', 'apply_options', 'client_type_from_env', 'dry_run', 'env_prefix',
        'format_duration', 'load_env', 'new_consumer_config', 'new_producer_config',
        'parse_duration', 'redacted_dict', 'validate_config', 'variables_for',
    },
    'streamprocessor.config.section': {
        'REDACTED', 'Section', 'describe', 'redacted_dict',
    },
    'streamprocessor.config.variables': {
        'ClientKind', 'GLOBAL_VARIABLES', 'Variable', 'VariableKind', 'env_prefix',
        'merge_dict',
    },
    'streamprocessor.config.optionkit': {
        'Duration', 'Side', 'check', 'checked', 'fixed', 'invalid', 'make', 'setter',
    },
    'streamprocessor.config.fields': {
        'Bool', 'Count', 'DEFAULT_LOGGER_NAME', 'Duration', 'Int64', 'PositiveInt', 'Secret',
        'StrictStr', 'choice_validator', 'default_logger', 'non_empty_items', 'text_problem',
    },
    'streamprocessor.clients': {
        'check_config', 'client_config', 'client_for', 'client_types', 'consumer_type',
        'lazy_names', 'new_async_client', 'new_async_consumer', 'new_async_producer',
        'new_client', 'new_consumer', 'new_producer', 'producer_type', 'stdin_is_piped',
    },
    'streamprocessor.clients.registry': {
        'BUILT_IN', 'ENTRY_POINT_GROUP', 'find', 'get', 'loaded', 'names', 'type_variables',
        'unknown', 'variables_for',
    },
    'streamprocessor.clients.spec': {
        'ClientSpec', 'load',
    },
    'streamprocessor.clients.ports': {
        'Commit', 'Nack', 'Rewind', 'Sink', 'SinkLink', 'Source', 'SourceLink',
    },
    'streamprocessor.clients.front': {
        'ClientFront', 'ConsumerFront', 'ErrorChannel', 'IDLE_HOOKS', 'ProducerFront', 'State',
        'run_idle_hooks', 'seconds',
    },
    'streamprocessor.clients.front.aio': {
        'AsyncConsumerFront', 'AsyncProducerFront', 'DONE',
    },
    'streamprocessor.clients.validation': {
        'SentNames', 'TopicRule', 'a_kind', 'field_problem', 'problem', 'refusal',
    },
    'streamprocessor.clients.inmem': {
        'InmemConsumer', 'InmemConsumerConfig', 'InmemProducer', 'InmemProducerConfig',
        'new_async_consumer', 'new_async_producer', 'new_consumer', 'new_producer',
    },
    'streamprocessor.clients.kafka': {
        'KafkaConsumer', 'KafkaConsumerConfig', 'KafkaMessage', 'KafkaProducer',
        'KafkaProducerConfig', 'new_async_consumer', 'new_async_producer', 'new_consumer',
        'new_producer',
    },
    'streamprocessor.clients.kafka.testing': {
        'committed_offsets', 'consumer_options', 'create_topic', 'delete_topics',
        'produce_messages', 'producer_options', 'random_name', 'read_messages',
        'wait_for_assignment',
    },
    'streamprocessor.clients.standardstream': {
        'StandardstreamConsumer', 'StandardstreamConsumerConfig', 'StandardstreamProducer',
        'StandardstreamProducerConfig', 'new_async_consumer', 'new_async_producer',
        'new_consumer', 'new_producer',
    },
    'streamprocessor.runner': {
        'DEAD_LETTER_TAGS', 'DEFAULT_PRODUCER', 'Handler', 'HandlerError',
        'HandlerFailedError', 'HandlerOutputError', 'Routed', 'Runner', 'RunnerSettings',
        'SETTINGS', 'Setting', 'effective_config', 'load_handler', 'open_clients',
        'producer_names', 'run', 'settings_for', 'to',
    },
    'streamprocessor.testing': {
        'ConformanceSuite', 'Features', 'HandlerResult', 'Harness', 'HeldProducer', 'collect',
        'run_handler', 'async_form',
    },
    'streamprocessor.testing.conformance': {
        'ConformanceSuite', 'Features', 'Harness', 'HeldProducer', 'UNSENDABLE', 'ack_barrier',
        'collect', 'coordinator',
    },
    'streamprocessor.testing.kafka_broker': {
        'BrokerStartError', 'CertificateError', 'DEFAULT_START_TIMEOUT', 'JarFetchError',
        'KAFKA_VERSION', 'KafkaBrokerError', 'KafkaCluster', 'KafkaNode', 'TlsFiles',
        'create_test_certificates', 'default_cache_dir', 'ensure_jars', 'main',
    },
    'streamprocessor.util': {
        'About', 'AckBarrier', 'BARRIER', 'COORDINATOR', 'ShutdownCoordinator', 'errors',
        'render_usage', 'usage',
    },
    'streamprocessor.util.loopthread': {
        'LoopThread',
    },
    'streamprocessor.util.barrier': {
        'AckBarrier', 'BARRIER', 'DeliveryTracker', 'Marks', 'PendingAcks', 'RefusedSend',
    },
    'streamprocessor.cli': {
        'EXIT_FAILURE', 'EXIT_OK', 'EXIT_USAGE', 'console', 'main',
    },
    'streamprocessor.cli.usage': {
        'About', 'Row', 'Section', 'client_section', 'render_usage', 'usage', 'variable_row',
    },
    'streamprocessor.clients.inmem.config': {
        'InmemConsumerConfig', 'InmemProducerConfig',
    },
    'streamprocessor.clients.inmem.options': {
        'inmem_listen', 'inmem_store',
    },
    'streamprocessor.clients.inmem.spec': {
        'SPEC', 'VARIABLES',
    },
    'streamprocessor.clients.inmem.harness': {
        'HARNESSES', 'InmemHarness',
    },
    'streamprocessor.clients.kafka.config': {
        'ACK_CHOICES', 'COMPRESSION_CHOICES', 'CONSUMER_IGNORE_ERRORS', 'Compression',
        'DEBUG_FLAGS', 'KafkaConsumerConfig', 'KafkaDebug', 'KafkaProducerConfig',
        'OFFSET_CHOICES', 'Offset', 'PRODUCER_IGNORE_ERRORS', 'PROTOCOL_CHOICES',
        'PropertyMap', 'Protocol', 'SASLConfig', 'SASL_MECHANISMS', 'SASL_MECHANISM_CHOICES',
        'SSLConfig', 'is_secret_property', 'parse_debug_flags', 'redact_properties',
    },
    'streamprocessor.clients.kafka.options': {
        'kafka_broker', 'kafka_commit_interval', 'kafka_compression_codec',
        'kafka_connect_timeout', 'kafka_debug', 'kafka_group_id', 'kafka_group_id_random',
        'kafka_handle_transient_errors', 'kafka_heartbeat_interval', 'kafka_id',
        'kafka_librdkafka_config', 'kafka_max_delivery_retries',
        'kafka_max_in_flight_requests', 'kafka_max_poll_interval',
        'kafka_max_queue_buffer_duration', 'kafka_max_queue_size_kbytes',
        'kafka_max_queue_size_messages', 'kafka_offset_head', 'kafka_offset_initial',
        'kafka_offset_tail', 'kafka_ordered_delivery', 'kafka_require_all_ack',
        'kafka_require_leader_ack', 'kafka_require_no_ack', 'kafka_retry_backoff',
        'kafka_sasl', 'kafka_security_protocol', 'kafka_session_timeout', 'kafka_ssl',
        'kafka_statistics_interval', 'kafka_topic',
    },
    'streamprocessor.clients.kafka.spec': {
        'SPEC', 'VARIABLES',
    },
    'streamprocessor.clients.kafka.harness': {
        'HARNESSES', 'KafkaHarness',
    },
    'streamprocessor.clients.standardstream.config': {
        'MAX_LINE_SIZE', 'Reader', 'StandardstreamConsumerConfig',
        'StandardstreamProducerConfig', 'Writer',
    },
    'streamprocessor.clients.standardstream.options': {
        'standardstream_max_line_size', 'standardstream_reader', 'standardstream_writer',
    },
    'streamprocessor.clients.standardstream.spec': {
        'SPEC', 'VARIABLES',
    },
    'streamprocessor.clients.standardstream.harness': {
        'BytesIOHarness', 'FileHarness', 'HARNESSES', 'PipeHarness', 'break_file',
    },
}
#: modules that hold names their package exports: private, import from the package
HOME = {
    'streamprocessor.clients.front.client',
    'streamprocessor.clients.front.consumer',
    'streamprocessor.clients.front.producer',
    'streamprocessor.clients.inmem.client',
    'streamprocessor.clients.kafka.consumer',
    'streamprocessor.clients.kafka.message',
    'streamprocessor.clients.kafka.producer',
    'streamprocessor.clients.standardstream.consumer',
    'streamprocessor.clients.standardstream.producer',
    'streamprocessor.config.build',
    'streamprocessor.config.durations',
    'streamprocessor.config.env',
    'streamprocessor.config.models',
    'streamprocessor.config.parsing',
    'streamprocessor.runner.app',
    'streamprocessor.runner.handler',
    'streamprocessor.runner.settings',
    'streamprocessor.stores.inmem',
    'streamprocessor.stream.errors',
    'streamprocessor.stream.message',
    'streamprocessor.stream.mocks',
    'streamprocessor.stream.protocols',
    'streamprocessor.stream.store',
    'streamprocessor.testing.faultproxy',
    'streamprocessor.testing.harness',
    'streamprocessor.testing.kafka_broker.certificates',
    'streamprocessor.testing.kafka_broker.cli',
    'streamprocessor.testing.kafka_broker.cluster',
    'streamprocessor.testing.kafka_broker.config',
    'streamprocessor.testing.kafka_broker.errors',
    'streamprocessor.testing.kafka_broker.jars',
    'streamprocessor.testing.kafka_broker.node',
    'streamprocessor.testing.plugin',
    'streamprocessor.util.errors',
    'streamprocessor.util.interrupts',
    'streamprocessor.util.throttle',
}


def _modules() -> list[str]:
    found = ["streamprocessor"]
    for info in pkgutil.walk_packages(streamprocessor.__path__, "streamprocessor."):
        found.append(info.name)
    return found


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_the_public_surface_is_pinned(module: str) -> None:
    mod = importlib.import_module(module)
    assert set(mod.__all__) == PUBLIC[module]
    for name in mod.__all__:  # lazy names too: each one resolves
        assert getattr(mod, name) is not None or name == "VARIABLES", name


def test_every_other_module_is_private() -> None:
    for name in _modules():
        private = any(part.startswith("_") for part in name.split("."))
        assert name in PUBLIC or name in HOME or private, (
            f"{name} is neither pinned as public, a home module nor named _private"
        )
    assert not (set(PUBLIC) & HOME)


def _imports(path: Path, module: str, package: bool) -> set[str]:
    """Every module ``module`` imports: at the top, in functions, under TYPE_CHECKING."""
    base = module if package else module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                root = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{root}.{node.module}" if node.module else root
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{alias.name}" for alias in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    files: dict[str, tuple[Path, bool]] = {}
    for path in (SRC / "streamprocessor").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        package = parts[-1] == "__init__"
        files[".".join(parts[:-1] if package else parts)] = (path, package)
    graph: dict[str, set[str]] = {}
    for module, (path, package) in files.items():
        targets = _imports(path, module, package) & files.keys()
        # a package importing its own submodules re-exports them: not a dependency back
        graph[module] = {t for t in targets if t != module and not t.startswith(module + ".")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected sets of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles_even_counting_function_and_type_checking_imports() -> None:
    assert _cycles(_graph()) == []


def test_no_module_is_longer_than_650_lines() -> None:
    for path in (SRC / "streamprocessor").rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 650, path
