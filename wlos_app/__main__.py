import multiprocessing

from wlos_app.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen bundle's spawned dataset workers start here
    raise SystemExit(main())
