# bash completion for batchctl(1).
# Installed as share/bash-completion/completions/batchctl; to try it:
#   source cli/batchctl.bash

# Names of job definitions or clusters, asked of batchd (quietly, quickly)
# with the global options already on the command line.
_batchctl_names()
{
	local kind=$1 i args=()

	# words and cword are those of _batchctl (dynamic scope).
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--server|--creds|--workspace|--prefix)
			args+=("${words[i]}" "${words[i + 1]}")
			;;
		esac
	done
	"${words[0]}" "${args[@]}" --timeout 2 -o json "$kind" list \
	    2>/dev/null | sed -n 's/^    "name": "\(.*\)",$/\1/p'
}

_batchctl()
{
	local cur prev words cword
	local global="--server --creds --workspace --prefix --timeout -o --output --help"
	local group="" verb="" i w opts=""
	local policy="--timeout --retries --retry-delay --backoff
	    --max-retry-delay --retry-on --exit-on --max-queue"

	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else	# without the bash-completion package
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi

	# The group and verb: the first words that are not options or values.
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		case $w in
		--server|--creds|--workspace|--prefix|--timeout|-o|--output|\
		--config|--cluster-config|--description|--cluster|--args|--env|\
		--idempotency-key|--jobdef|--status|--limit|--attempt|--run|--rerun-of|\
		--count|--retries|--retry-delay|--backoff|--max-retry-delay|\
		--retry-on|--exit-on|--max-queue|--text|--code|--type|\
		--cron|--tz|--def|--max-concurrent|--misfire)
			((i++))
			continue
			;;
		-*)
			continue
			;;
		esac
		if [[ -z $group ]]; then
			group=$w
		elif [[ -z $verb ]]; then
			verb=$w
		fi
	done

	case $prev in
	--config|--cluster-config|--creds|--text)
		if declare -F _filedir >/dev/null; then
			_filedir
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		return
		;;
	-o|--output)
		COMPREPLY=($(compgen -W "table json" -- "$cur"))
		return
		;;
	--status)
		COMPREPLY=($(compgen -W "PENDING RUNNING SUCCEEDED FAILED CANCELLED" \
		    -- "$cur"))
		return
		;;
	--type)
		COMPREPLY=($(compgen -W "PYTHON SQL" -- "$cur"))
		return
		;;
	--retry-on|--exit-on)
		COMPREPLY=($(compgen -W "NON_ZERO_EXIT_CODE TIMEOUT \
		    SOURCE_FETCH_FAILED SPAWN_FAILED KILLED_BY_SIGNAL \
		    SUPERVISOR_LOST" -- "$cur"))
		return
		;;
	--cluster)
		COMPREPLY=($(compgen -W "$(_batchctl_names cluster)" -- "$cur"))
		return
		;;
	--jobdef|--def)
		COMPREPLY=($(compgen -W "$(_batchctl_names jobdef)" -- "$cur"))
		return
		;;
	--misfire)
		COMPREPLY=($(compgen -W "skip run-once" -- "$cur"))
		return
		;;
	--server|--workspace|--prefix|--timeout|--description|--args|--env|\
	--idempotency-key|--limit|--attempt|--run|--count|--retries|\
	--retry-delay|--backoff|--max-retry-delay|--max-queue|--code|\
	--cron|--tz|--max-concurrent|--misfire|--ha-stream)
		return
		;;
	esac

	if [[ -z $group ]]; then
		COMPREPLY=($(compgen -W "jobdef cluster run schedule events status $global" \
		    -- "$cur"))
		return
	fi
	case $group in
	jobdef)
		[[ -z $verb ]] && opts="create get list update delete"
		case $verb in
		create) opts="--config --cluster-config --description
		    $policy --text --code --type" ;;
		update) opts="--config --cluster-config --no-cluster-config
		    --description $policy --text --code --type" ;;
		esac
		case $verb in
		get|update|delete)
			[[ $cur != -* ]] &&
			    opts="$opts $(_batchctl_names jobdef)"
			;;
		esac
		;;
	cluster)
		[[ -z $verb ]] && opts="create get list pause resume delete"
		case $verb in
		create) opts="--config --no-auto-resume" ;;
		get|pause|resume|delete)
			[[ $cur != -* ]] && opts="$(_batchctl_names cluster)"
			;;
		esac
		;;
	run)
		[[ -z $verb ]] &&
		    opts="submit sql submit-batch rerun get list cancel
			cancel-all logs events"
		case $verb in
		submit)
			opts="--cluster --args --env --idempotency-key --after
			    --wait --follow $policy"
			[[ $cur != -* ]] &&
			    opts="$opts $(_batchctl_names jobdef)"
			;;
		sql) opts="--cluster --cluster-config --env --idempotency-key
		    --wait --follow" ;;
		list) opts="--jobdef --cluster --status --rerun-of --limit" ;;
		rerun) opts="--repair" ;;
		cancel-all) opts="--cluster --jobdef" ;;
		logs) opts="--attempt --stderr -f --follow" ;;
		esac
		;;
	schedule)
		[[ -z $verb ]] && opts="create get list update delete pause
		    resume trigger history"
		case $verb in
		create|update) opts="--cron --tz --def --cluster
		    --cluster-config --args --env --max-concurrent --misfire
		    --pause-cluster-when-finished --description" ;;
		esac
		case $verb in
		create) opts="$opts --config --paused" ;;
		update) opts="$opts --no-cluster --no-cluster-config --no-args
		    --no-env --keep-cluster" ;;
		esac
		;;
	events)
		opts="--cluster --run --count"
		;;
	status)
		opts="--ha-stream"
		;;
	esac
	[[ -n $verb || $group == events || $group == status ]] &&
	    opts="$opts $global"
	opts=$(printf '%s\n' $opts | sort -u)	# --timeout: the job's and global
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
} &&
complete -F _batchctl batchctl
