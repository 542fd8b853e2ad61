#version 410 core
// One triangle covering the viewport, from gl_VertexID alone (no vertex buffer).

uniform float u_ndc_depth;  // 0 for shading passes; 1 (the far plane) for occlusion counting

void main() {
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    gl_Position = vec4(p * 2.0 - 1.0, u_ndc_depth, 1.0);
}
