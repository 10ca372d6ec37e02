"""The tutorial's context lab (chapter 12): small, runnable cases of the request's context being lost
inside one process, or on a hop nothing instruments, each beside the way to carry it."""
