"""The sandbox process: moto in-process, made as strict as AWS, holding every data plane.

:mod:`.control` starts, finds and stops it (``gameday sandbox up|down|status|env``) and is
the only sandbox module the rest of the toolkit imports; :mod:`.server` is the process's
entry point, wiring the services of the other subpackages together; :mod:`.moto_reader`
reads moto's backend objects; :mod:`.control_plane` and :mod:`.throttling` wrap moto's
WSGI app (:mod:`.moto_app`) where AWS behaves otherwise.
"""
