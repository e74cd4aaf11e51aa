{{- define "consent.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "consent.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "consent.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "consent.image" -}}
{{- if .Values.image.digest -}}{{ .Values.image.repository }}@{{ .Values.image.digest }}{{- else -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end -}}
{{- end -}}

{{- define "consent.secretName" -}}
{{- required "existingSecret: name the Secret holding the service's credentials (values.yaml says which keys)" .Values.existingSecret -}}
{{- end -}}

{{/* Environment shared by the API, the workers and the setup Job. */}}
{{- define "consent.envFrom" -}}
- configMapRef:
    name: {{ include "consent.fullname" . }}
- secretRef:
    name: {{ include "consent.secretName" . }}
{{- end -}}

{{/* The routing file's mount and volume, in the API and the workers, when routing.file is set. */}}
{{- define "consent.routingMount" -}}
{{- if .Values.routing.file }}
- name: routing
  mountPath: {{ .Values.routing.mountPath }}
  subPath: routing.yaml
  readOnly: true
{{- end }}
{{- end -}}

{{- define "consent.routingVolume" -}}
{{- if .Values.routing.file }}
- name: routing
  configMap:
    name: {{ include "consent.fullname" . }}-routing
{{- end }}
{{- end -}}
