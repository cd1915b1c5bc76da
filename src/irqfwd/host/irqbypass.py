"""IRQ bypass manager (virt/lib/irqbypass.c).

Producers (e.g. a VFIO interrupt) and consumers (e.g. a KVM irqfd) register with a
*token* (the trigger eventfd).  A producer and a consumer with the same token are
connected one to one; registering a second producer or consumer with a token already in
use returns ``-EBUSY``.  ``__connect`` calls, in this order: ``prod.stop``, ``cons.stop``,
``prod.add_consumer``, ``cons.add_producer`` (on failure ``prod.del_consumer`` undoes the
first), ``cons.start``, ``prod.start``; ``__disconnect`` is the mirror image.
Every callback except ``add_producer``/``del_producer`` is optional (``None``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

__all__ = ["EBUSY", "EINVAL", "IrqBypassConsumer", "IrqBypassManager", "IrqBypassProducer"]

EBUSY: Final = -16
EINVAL: Final = -22


class IrqBypassProducer:
    """``struct irq_bypass_producer``."""

    def __init__(self, token: Any, irq: int = 0) -> None:
        self.token = token
        self.irq = irq
        self.consumer: IrqBypassConsumer | None = None
        self.add_consumer: Callable[[IrqBypassProducer, IrqBypassConsumer], int] | None = None
        self.del_consumer: Callable[[IrqBypassProducer, IrqBypassConsumer], None] | None = None
        self.stop: Callable[[IrqBypassProducer], None] | None = None
        self.start: Callable[[IrqBypassProducer], None] | None = None


class IrqBypassConsumer:
    """``struct irq_bypass_consumer``; ``add_producer``/``del_producer`` are mandatory."""

    def __init__(
        self,
        token: Any,
        add_producer: Callable[[IrqBypassConsumer, IrqBypassProducer], int],
        del_producer: Callable[[IrqBypassConsumer, IrqBypassProducer], None],
    ) -> None:
        self.token = token
        self.producer: IrqBypassProducer | None = None
        self.add_producer = add_producer
        self.del_producer = del_producer
        self.stop: Callable[[IrqBypassConsumer], None] | None = None
        self.start: Callable[[IrqBypassConsumer], None] | None = None


class IrqBypassManager:
    """The global producer/consumer registry."""

    def __init__(self) -> None:
        self.producers: dict[int, IrqBypassProducer] = {}
        self.consumers: dict[int, IrqBypassConsumer] = {}

    @staticmethod
    def _key(token: Any) -> int:
        return id(token)

    def register_producer(self, prod: IrqBypassProducer) -> int:
        """``irq_bypass_register_producer``: -EINVAL without token, -EBUSY on a duplicate."""
        if prod.token is None:
            return EINVAL
        key = self._key(prod.token)
        if key in self.producers:
            return EBUSY
        cons = self.consumers.get(key)
        if cons is not None:
            ret = self._connect(prod, cons)
            if ret:
                return ret
        self.producers[key] = prod
        return 0

    def unregister_producer(self, prod: IrqBypassProducer) -> None:
        """``irq_bypass_unregister_producer``: disconnect, then forget it."""
        key = self._key(prod.token)
        if self.producers.get(key) is not prod:
            return
        if prod.consumer is not None:
            self._disconnect(prod, prod.consumer)
        del self.producers[key]

    def register_consumer(self, cons: IrqBypassConsumer) -> int:
        """``irq_bypass_register_consumer``: -EINVAL without token/mandatory ops, -EBUSY on a duplicate."""
        if cons.token is None or cons.add_producer is None or cons.del_producer is None:
            return EINVAL
        key = self._key(cons.token)
        if key in self.consumers:
            return EBUSY
        prod = self.producers.get(key)
        if prod is not None:
            ret = self._connect(prod, cons)
            if ret:
                return ret
        self.consumers[key] = cons
        return 0

    def unregister_consumer(self, cons: IrqBypassConsumer) -> None:
        """``irq_bypass_unregister_consumer``."""
        key = self._key(cons.token)
        if self.consumers.get(key) is not cons:
            return
        if cons.producer is not None:
            self._disconnect(cons.producer, cons)
        del self.consumers[key]

    @staticmethod
    def _connect(prod: IrqBypassProducer, cons: IrqBypassConsumer) -> int:
        """``__connect``: stop, stop, add_consumer, add_producer (undo on error), start, start."""
        if prod.stop:
            prod.stop(prod)
        if cons.stop:
            cons.stop(cons)
        ret = 0
        if prod.add_consumer:
            ret = prod.add_consumer(prod, cons)
        if not ret:
            ret = cons.add_producer(cons, prod)
            if ret and prod.del_consumer:
                prod.del_consumer(prod, cons)
        if cons.start:
            cons.start(cons)
        if prod.start:
            prod.start(prod)
        if not ret:
            prod.consumer = cons
            cons.producer = prod
        return ret

    @staticmethod
    def _disconnect(prod: IrqBypassProducer, cons: IrqBypassConsumer) -> None:
        """``__disconnect``: stop, stop, del_producer, del_consumer, start, start."""
        if prod.stop:
            prod.stop(prod)
        if cons.stop:
            cons.stop(cons)
        cons.del_producer(cons, prod)
        if prod.del_consumer:
            prod.del_consumer(prod, cons)
        if cons.start:
            cons.start(cons)
        if prod.start:
            prod.start(prod)
        prod.consumer = None
        cons.producer = None
