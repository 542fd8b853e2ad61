#version 410 core
// Depth only: shadow maps and the per-object occlusion queries need no colour.

void main() {
}
