#!/bin/sh
# foyer-payload-mount: the second half of a split initramfs (packaging/erofs/foyer-split-initrd).
# foyer's heavy part (node, cage, cog/WebKit, Mesa, fonts, XKB data) lives in an erofs image
# outside the small cpio part; this opens the image under dm-verity with the root hash the small
# part carries, mounts it read-only and lays it over /usr under a tmpfs upper layer, so that only
# the blocks foyer reads are ever decompressed (initoverlayfs' idea) — and each of them is checked
# against the hash tree when it is read, every time it is read from the device: a block changed on
# the device after the mount is refused (an I/O error), not used.
#
#   foyer-payload-mount            open and mount (foyer-payload.service's ExecStart)
#   foyer-payload-mount --unmount  take the overlay away again (ExecStop, before switch-root)
#
# Where the image is: rd.foyer.payload=PATH on the kernel command line, a block device (a partition,
# a /dev/disk/by-* name) or an image file. The image is the erofs data, then its hash tree (dm-verity
# format 1, sha256, 4 KiB blocks, no verity superblock: every parameter comes from the small part).
# Tests point FOYER_PAYLOAD_ROOT at a scratch root and FOYER_CMDLINE at a file of their own.
set -u

root=${FOYER_PAYLOAD_ROOT:-}
cmdline=${FOYER_CMDLINE:-/proc/cmdline}
wait_s=${FOYER_PAYLOAD_WAIT:-90}
# in the initramfs' own root file system, never under /run: /run moves into the real root at
# switch-root, and the payload must not follow it there
state=$root/.foyer-payload
record=$root/usr/lib/foyer/payload-verity
# the device-mapper name of the verified payload
dm=${FOYER_PAYLOAD_DM:-foyer-payload}

say() { echo "foyer-payload: $*" >&2; }
# what foyerd waits for before it starts the display stack (node and foyer are in the small part,
# src/launch/payload.ts): one of these two, made last
mounted_mark=$root/run/foyer-payload.mounted
failed_mark=$root/run/foyer-payload.failed
mounted() { while read -r _ mp _; do [ "$mp" = "$1" ] && return 0; done < /proc/self/mounts; return 1; }

if [ "${1:-}" = "--unmount" ]; then
    # lazily: a process started from the payload may still hold a file while it exits; the
    # verity device goes when its last user does
    for m in "$root/usr" "$state/lower" "$state/rw"; do
        if mounted "$m"; then umount -l "$m" || say "could not unmount $m"; fi
    done
    if [ -e "/dev/mapper/$dm" ]; then veritysetup close --deferred "$dm" 2>/dev/null || say "could not close $dm"; fi
    rm -f "$mounted_mark" "$failed_mark"
    exit 0
fi

rm -f "$mounted_mark" "$failed_mark"
# every way out but the last line's is a failure foyerd must hear of at once
trap '[ $? -eq 0 ] || { : > "$failed_mark"; } 2>/dev/null' EXIT

if ! read -r roothash salt size < "$record" || [ -z "${roothash:-}" ] || [ -z "${salt:-}" ] || [ -z "${size:-}" ]; then
    say "$record is missing or malformed: this initramfs was not split, nothing to mount"
    exit 1
fi
case $roothash in *[!0-9a-f]*) roothash= ;; esac
case $salt in *[!0-9a-f]*) salt= ;; esac
case $size in *[!0-9]*) size= ;; esac
if [ ${#roothash} -ne 64 ] || [ ${#salt} -ne 64 ] || [ -z "$size" ] || [ $((size % 4096)) -ne 0 ] || [ "$size" -eq 0 ]; then
    say "$record: expected '<root hash> <salt> <data bytes>' (64 hex digits, 64 hex digits, a multiple of 4096)"
    exit 1
fi

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

# the data, then at least one block of hash tree
have=$(blockdev --getsize64 "$src" 2>/dev/null || stat -L -c %s "$src")
if [ "$have" -le "$size" ]; then say "$src holds $have bytes, the payload's data alone is $size: truncated"; exit 1; fi

modprobe -q dm_verity 2>/dev/null
modprobe -q erofs 2>/dev/null
modprobe -q overlay 2>/dev/null
if ! out=$(veritysetup open "$src" "$dm" "$src" "$roothash" --no-superblock --hash=sha256 \
        --data-block-size=4096 --hash-block-size=4096 --data-blocks=$((size / 4096)) \
        --hash-offset="$size" --salt="$salt" 2>&1); then
    say "cannot open $src under dm-verity: $out"
    exit 1
fi
close() { veritysetup close "$dm" 2>/dev/null; }
# the root hash's first 12 digits, for the console
short=${roothash%"${roothash#????????????}"}
mkdir -p "$state/lower" "$state/rw"
# erofs reads its superblock here: a tree that does not lead to the root hash fails right away
if ! mount -t erofs -o ro "/dev/mapper/$dm" "$state/lower" 2>/dev/null; then
    say "$src does not match this initramfs (root hash $short…): not mounted"
    close
    exit 1
fi
if [ ! -d "$state/lower/usr" ]; then
    say "$src has no usr/ tree: not a foyer payload"
    umount "$state/lower"; close
    exit 1
fi
mount -t tmpfs -o mode=0755 foyer-payload-rw "$state/rw" && mkdir -p "$state/rw/upper" "$state/rw/work" || {
    say "no tmpfs for the upper layer"; umount "$state/lower"; close; exit 1
}
# the payload above the small part's own /usr: both stay visible, writes land on tmpfs
if ! mount -t overlay foyer-payload -o "lowerdir=$state/lower/usr:$root/usr,upperdir=$state/rw/upper,workdir=$state/rw/work" "$root/usr"; then
    say "the overlay on /usr failed"
    umount "$state/rw"; umount "$state/lower"; close
    exit 1
fi
say "mounted $src ($size bytes, dm-verity root hash $short…) under a tmpfs overlay on /usr"
{ : > "$mounted_mark"; } 2>/dev/null
