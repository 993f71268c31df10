/* SPDX-License-Identifier: GPL-2.0-only */
/* errno values the portable code returns that a Windows C library may lack. */
#ifndef VG_COMPAT_H
#define VG_COMPAT_H

#include <errno.h>

#ifndef EBADMSG
#define EBADMSG 74
#endif
#ifndef EPROTONOSUPPORT
#define EPROTONOSUPPORT 93
#endif
#ifndef EMSGSIZE
#define EMSGSIZE 90
#endif
#ifndef EILSEQ
#define EILSEQ 84
#endif
#ifndef ENOKEY
#define ENOKEY 126
#endif
#ifndef EFBIG
#define EFBIG 27
#endif
#ifndef ESTALE
#define ESTALE 116
#endif

#endif
