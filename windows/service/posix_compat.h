// Force-included into the engine sources for the mingw-w64 build of vstor-storport.exe: the POSIX
// calls the engine uses for the APTPL reservations file, mapped to their Windows CRT equivalents.
#pragma once
#include <fcntl.h>
#include <io.h>
#ifndef O_CLOEXEC
#define O_CLOEXEC O_NOINHERIT
#endif
#define fsync _commit
