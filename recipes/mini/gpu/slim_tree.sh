#!/usr/bin/env bash
# A device run carries the whole working tree plus its carry paths, 64 MiB in all. The tracked tree is about
# 61 MiB (the DiT pipelines' weights, the evaluation logs' PNGs, the parity fixtures), so a pack leaves no room.
# None of those is needed to train on the device:
#
#   bash recipes/mini/gpu/slim_tree.sh hide      # git rm them (staged deletions: they do not travel)
#   ... the device tool's run call, carry: [packs/<pack>, packs/.whl] ...
#   bash recipes/mini/gpu/slim_tree.sh restore   # back from HEAD
#
# `hide` refuses when any of them has changes not committed (restore takes them from HEAD), so nothing is lost; commit
# nothing while they are hidden (the commit would delete them: `restore` then says so).
set -euo pipefail
cd "$(dirname "$0")/../../.."
PATHS=(recipes/mini/logs losatok_plugin/pretrained/dit-tts-mini losatok_plugin/pretrained/dit-tta-mini
    losatok_plugin/pretrained/dit-ttm-mini tests/assets)
case "${1:-}" in
    hide)
        if [ -n "$(git status --porcelain -- "${PATHS[@]}")" ]; then
            echo "error: commit or stash the changes under ${PATHS[*]} first (restore takes them from HEAD)" >&2
            exit 1
        fi
        git rm -rq -- "${PATHS[@]}"
        echo "hidden (staged deletions): commit nothing until 'slim_tree.sh restore', or the commit deletes them" >&2
        ;;
    restore)
        for p in "${PATHS[@]}"; do
            git cat-file -e "HEAD:$p" 2>/dev/null || {
                echo "error: HEAD has no $p: a commit made while hidden deleted it (git revert that commit)" >&2
                exit 1
            }
        done
        git reset -q -- "${PATHS[@]}"
        git checkout -- "${PATHS[@]}"
        ;;
    *) echo "usage: slim_tree.sh hide|restore" >&2; exit 2 ;;
esac
