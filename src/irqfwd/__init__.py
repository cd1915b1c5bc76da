"""irqfwd: model, run and measure how ARM systems forward physical interrupts to guest VMs.

Layers follow the data flow device → GIC → CPU → host → vgic → list register → guest:
:mod:`irqfwd.hw` (GIC and timer hardware), :mod:`irqfwd.host` (host kernel and KVM),
:mod:`irqfwd.guest`, :mod:`irqfwd.devices`, on the :mod:`irqfwd.sim` engine.
"""

__version__ = "0.1.0"
