#!/bin/sh
# foyer-payload-mount: the second half of a split initramfs (packaging/erofs/foyer-split-initrd).
# foyer's heavy part (node, cage, cog/WebKit, Mesa, fonts, XKB data) lives in an erofs image
# outside the small cpio part; this checks the image against the sha256 and size the small part
# carries, mounts it read-only and lays it over /usr under a tmpfs upper layer, so that only the
# blocks foyer reads are ever decompressed (initoverlayfs' idea).
#
#   foyer-payload-mount            check and mount (foyer-payload.service's ExecStart)
#   foyer-payload-mount --unmount  take the overlay away again (ExecStop, before switch-root)
#
# Where the image is: rd.foyer.payload=PATH on the kernel command line, a block device (a partition,
# a /dev/disk/by-* name) or an image file.
# Tests point FOYER_PAYLOAD_ROOT at a scratch root and FOYER_CMDLINE at a file of their own.
set -u

root=${FOYER_PAYLOAD_ROOT:-}
cmdline=${FOYER_CMDLINE:-/proc/cmdline}
wait_s=${FOYER_PAYLOAD_WAIT:-90}
# in the initramfs' own root file system, never under /run: /run moves into the real root at
# switch-root, and the payload must not follow it there
state=$root/.foyer-payload
sumfile=$root/usr/lib/foyer/payload-sha256

say() { echo "foyer-payload: $*" >&2; }
mounted() { while read -r _ mp _; do [ "$mp" = "$1" ] && return 0; done < /proc/self/mounts; return 1; }

if [ "${1:-}" = "--unmount" ]; then
    # lazily: a process started from the payload may still hold a file while it exits
    for m in "$root/usr" "$state/lower" "$state/rw"; do
        if mounted "$m"; then umount -l "$m" || say "could not unmount $m"; fi
    done
    exit 0
fi

if ! read -r want size < "$sumfile" || [ -z "${want:-}" ] || [ -z "${size:-}" ]; then
    say "$sumfile is missing or malformed: this initramfs was not split, nothing to mount"
    exit 1
fi
case $want$size in *[!0-9a-f]*) say "$sumfile: expected '<sha256> <bytes>'"; exit 1 ;; esac

if mounted "$root/usr"; then say "$root/usr is a mount point already: not stacking a second payload"; exit 1; fi

src=
for w in $(cat "$cmdline" 2>/dev/null); do
    case $w in rd.foyer.payload=*) src=${w#rd.foyer.payload=} ;; esac
done

if [ -z "$src" ]; then say "no rd.foyer.payload= on the kernel command line: where is the payload?"; exit 1; fi
# udev names the device a moment after it appears
i=0
while [ ! -e "$src" ]; do
    i=$((i + 1))
    if [ "$i" -gt $((wait_s * 10)) ]; then say "$src did not appear within $wait_s s"; exit 1; fi
    sleep 0.1
done

# the whole image, and only the image: a partition may be larger than what was written to it
have=$(blockdev --getsize64 "$src" 2>/dev/null || stat -L -c %s "$src")
if [ "$have" -lt "$size" ]; then say "$src holds $have bytes, the payload is $size: truncated"; exit 1; fi
got=$(head -c "$size" "$src" | sha256sum)
got=${got%% *}
if [ "$got" != "$want" ]; then
    say "$src does not match this initramfs (sha256 $got, expected $want): not mounted"
    exit 1
fi

modprobe -q erofs 2>/dev/null
modprobe -q overlay 2>/dev/null
mkdir -p "$state/lower" "$state/rw"
opts=ro
[ -b "$src" ] || opts=ro,loop
mount -t erofs -o "$opts" "$src" "$state/lower" || { say "mounting $src (erofs) failed"; exit 1; }
if [ ! -d "$state/lower/usr" ]; then
    say "$src has no usr/ tree: not a foyer payload"
    umount "$state/lower"
    exit 1
fi
mount -t tmpfs -o mode=0755 foyer-payload-rw "$state/rw" && mkdir -p "$state/rw/upper" "$state/rw/work" || {
    say "no tmpfs for the upper layer"; umount "$state/lower"; exit 1
}
# the payload above the small part's own /usr: both stay visible, writes land on tmpfs
if ! mount -t overlay foyer-payload -o "lowerdir=$state/lower/usr:$root/usr,upperdir=$state/rw/upper,workdir=$state/rw/work" "$root/usr"; then
    say "the overlay on /usr failed"
    umount "$state/rw"
    umount "$state/lower"
    exit 1
fi
say "mounted $src ($size bytes, sha256 ${want%"${want#????????????}"}…) under a tmpfs overlay on /usr"
