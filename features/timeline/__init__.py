"""What was known when: the linked-records contract, its adapters and point-in-time primitives.

Submodules are imported by name (`features.timeline.records`, `features.timeline.adapters`, ...).
"""
