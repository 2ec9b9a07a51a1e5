"""Amazon EventBridge Scheduler: one-time schedules that invoke their target when due.

moto keeps schedules and runs none; :mod:`.scheduler` runs them (the janitor's alarm).
"""
