"""irqfwd: model, run and measure how ARM systems forward physical interrupts to guest VMs.

Layers follow the data flow device → GIC → CPU → host → vgic → list register → guest:
:mod:`irqfwd.hw` (GIC and timer hardware), :mod:`irqfwd.host` (host kernel and KVM),
:mod:`irqfwd.guest`, :mod:`irqfwd.devices`, on the :mod:`irqfwd.sim` engine.

Importing the package first consults :mod:`irqfwd._accel` (``IRQFWD_ACCEL``): a fresh
mypyc build of the hot modules in ``build/accel`` is used when present.
"""

from irqfwd import _accel

_accel.install()

__version__ = "0.1.0"
