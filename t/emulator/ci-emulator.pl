#!/usr/bin/perl

# ci-emulator.pl: an emulator of the Tencent Cloud CI (数据万象) job-query
# API, for the tests and "make run".  Perl core modules only (plus
# IO::Socket::SSL for --tls-cert).
#
#   perl t/emulator/ci-emulator.pl --listen 127.0.0.1:PORT
#       [--tls-cert FILE --tls-key FILE]
#       [--host examplebucket-1250000000.ci.ap-beijing.myqcloud.com]
#       --secret AKID...:KEY [--secret ID:KEY ...]   (every pair accepted)
#       [--require-token TOKEN] [--clock-offset SECONDS]
#       [--secrets-file FILE]   (ID:KEY:TOKEN:EXPIRES lines, re-read at
#                                each request: those not expired, with
#                                their own token, instead of --secret)
#       [--record FILE] [--pid-file FILE] [--no-tls-resume]
#       [--callback URL [--callback-json]]
#
# --listen HOST:PORT (or [IPv6]:PORT); HTTPS with --tls-cert/--tls-key.
# TLS sessions can be resumed on later connections, as with a real server
# (one context, one ticket key, for all connections); --no-tls-resume gives
# every connection a context of its own, so every handshake is a full one.
# The pid is written to --pid-file once the socket listens.  One child per
# connection; SIGTERM/SIGINT stop the children and the parent; a child whose
# parent is gone exits within half a second.  HTTP/1.1 keepalive and
# pipelining, HTTP/1.0 (keepalive only when asked), "Connection: close";
# garbage gets 400 InvalidArgument and the connection closed.
#
# Every answer: Content-Type: application/xml, Content-Length (unless
# chunked), Connection, Date (the emulator's clock: real time plus
# --clock-offset), Server: tencent-ci, x-ci-request-id (base64, unique),
# Set-Cookie: ci_emulator=1, X-Emulator-Private: 1.  Errors:
#   <Error><Code>C</Code><Message>M</Message><RequestId>R</RequestId></Error>
#
# Checks, in this order (first failure answers):
#   method GET                  405 MethodNotAllowed (+ Allow: GET)
#   Host equals --host          403 InvalidHost
#   the target's %-escapes      400 InvalidArgument
#   Authorization               403 AccessDenied (missing or malformed),
#     q-ak is a --secret id     403 InvalidAccessKeyId
#     now within q-sign-time    403 RequestTimeTooSkewed
#     host in q-header-list, q-url-param-list = the query's names exactly,
#     the recomputed signature  403 SignatureDoesNotMatch
#   --require-token: header x-ci-security-token equals it
#                               403 InvalidAccessKeyId "token invalid"
#   then the API                404 NoSuchApi for any other path
#
# --callback http://HOST:PORT/PATH: CI's notifications, as a job or a
# workflow submitted with that callback URL gets them: when a timed job
# (or run, below) ends, a POST of <Response><EventName>TaskFinish
# </EventName><JobsDetail>...</JobsDetail></Response> (the job as a lookup
# answers it), or WorkflowFinish with <WorkflowExecution>; with
# --callback-json, the same members in JSON.  Each one sent is a JSON line
# in <record>.callbacks: {"event","id","time" (when sent),"status" (of the
# answer, 0 if none)}.
#
# --record FILE: one JSON line per request received (appended, flock'd,
# written before the answer is sent; strings are the bytes received, one
# character per byte):
#   {"method","target","version","headers":[[name,value],...] (as received),
#    "signature":"ok" | "bad: <reason>", "pid" (one per connection), "time",
#    "tls_resumed" (over TLS: whether the connection's handshake resumed a
#    session; null without TLS),
#    "status", "code" (the error Code or null), "request_id",
#    "fault" (the fault id, "stale" for a request --stale-after left
#    unanswered, or null), "response_sha1" (of the body bytes sent, after
#    gzip, before chunked framing), "response" (those bytes themselves,
#    when under 1 MB; absent otherwise)}
# For faults that never answer (faultreset, faultclose, stale) "status" is
# the status the answer would have had.
# "signature" is the verdict on the signature alone, also for requests that
# were refused for another reason (method, Host, token).  A request that
# cannot be parsed is recorded with "signature":"bad: malformed request: ..."
# and the fields that could be read (others null).
#
# ---------------------------------------------------------------------------
# THE JOBS.  "<State>" is one of Submitted Running Pause Success Failed
# Cancel; N is any number 1..999999999 (generated on request, created at
# 2022-07-17T12:00:00+0800 + N minutes).
#
#   GET /jobs/<id>[,<id>...] (1..10 ids; media jobs, seed 002's structure)
#     jobs<State><N>          e.g. jobsSuccess1, jobsRunning7
#     genSuccess<N>           Success (any N)
#     j8d121820f5e411ec926ef19d53ba9c6f   seed, Success (terminal)
#     j9c0a4726f6ac11ec96aaa9b64ab18d00   seed, Success
#     jobsUserData1           Running; UserData is the text
#                             "<State>Success</State>" (escaped in the XML)
#     jobsCdata1              Running; UserData is a CDATA section holding
#                             <State>Success</State>
#     jobsUnicode1            Success; UTF-8 and markup characters in
#                             Input/Object and UserData
#     listTranscode1..5       the queue's Transcode jobs (see below)
#   GET /pic_jobs/<id> (seed 000's structure, Tag PosterProduction)
#     pic<State><N>, picUserData1 (Running),
#     c93984788066911ed89ed352d4d9d2084   seed, Submitted
#   GET /ai_jobs/<id> (seed 001's structure, Tag Translation)
#     ai<State><N>, aiUserData1 (Running),
#     a8d121820f5e411ec926ef19d53ba9c6f   seed, Running (also in the queue)
#     listJob01..listJob25    the queue's Translation jobs (see below)
#   GET /inventorytriggerjob/<id> (seed 003's structure; <RequestId> first,
#   equal to the x-ci-request-id header)
#     inv<State><N>,
#     b3deffea2f84911ec9cb15254008618d9   seed, Running
#   Every id API: faultstate answers Submitted, then Running, then Success
#   from the third request on (one counter per API, reset when the emulator
#   starts; kept in <record>.faultstate, or /tmp/ci-emulator-<port>.faultstate).
#   timed<S>x<N> (S 2..999, any id API): Submitted for a second from the
#   first request for it (per API; kept with faultstate's counters), then
#   Running, then Success from S seconds after that first request on.
#   tick<S>x<N> (S 1..999, /jobs only): Running for ever, its Progress
#   (step k mod 100) one step further every S seconds of real time (not
#   --clock-offset's): step k begins k * S seconds plus
#   (N * 10 * S mod 1000 * S) milliseconds after the epoch, so that jobs
#   1..100 step in turn and a client can tell when a change it sees
#   happened (bench/watch.pl).
#   With --callback, CI's notification is posted when a timed job ends.
#   busy<K>x<N> (K 1..256, jobs API): Running, its Progress the tenths of
#   a second since the first request for it (kept as timed's), modulo 100,
#   so it changes every 100 ms, and a UserData of K KiB.
#   Unknown ids come back as one <NonExistJobIds> per id, in request order.
#   Media Success jobs carry MediaInfo/MediaResult; every media job has an
#   Operation/DigitalWatermark/State of Running (as in the seed) whatever its
#   own State: only JobsDetail/State is the job's state.
#
# THE QUEUE p893bcda225bf4945a378da6662e81a89 (GET /jobs?queueId=&tag=...)
#   tag Translation, 26 jobs:
#     a8d121820f5e411ec926ef19d53ba9c6f (seed) Running,
#        created 2022-07-07T12:12:12+0800, inputObject test.txt,
#        no workflowId, no inventoryTriggerJobId
#     listJobNN, NN = 01..25: created 2022-07-07T12:00:00+0800 + NN hours;
#        state by NN % 6: 0 Submitted, 1 Running, 2 Pause, 3 Success,
#          4 Failed, 5 Cancel  (Success: 03 09 15 21; Failed: 04 10 16 22;
#          Cancel: 05 11 17 23; Submitted: 06 12 18 24; Pause: 02 08 14 20;
#          Running: 01 07 13 19 25)
#        workflowId w1 for odd NN, w2 for even NN;
#        inventoryTriggerJobId inv1 when NN % 3 == 0 (03 06 .. 24),
#          inv2 when NN is 05 10 20 25, none otherwise;
#        inputObject input/fileNN.txt, except
#          listJob05 "input/a b+c.txt", listJob07 "input/腾讯云 视频.txt",
#          listJob11 "input/q&a=1%;#?.txt", listJob15 and listJob21
#          "input/shared+file 1.txt"
#   tag Transcode, 5 jobs listTranscode1..5: created
#        2022-07-07T12:00:00+0800 + n*30 minutes; states Success Failed
#        Running Success Cancel; workflowId w1; inputObject input/videoN.mp4
#   (queue p2242ab62c7c94486915508540933a2c6, tag Transcode, holds the two
#   seed media jobs.)
# List parameters as in api.md: queueId and tag required; size 1..100
# (default 10); states from All Submitted Running Success Failed Pause
# Cancel (default All); orderByTime Desc (default) or Asc, by creation time
# then JobId; startCreationTime < created < endCreationTime (strict, as the
# API page says), format %Y-%m-%dT%H:%M:%S%z; workflowId,
# inventoryTriggerJobId, inputObject exact matches (an empty value is no
# filter); nextToken as returned by the previous page (bound to the same
# filters; an empty value is the first page).  <NextToken> holds the next
# token when more remain, and is empty when not.  Bad or repeated
# parameters: 400 InvalidArgument.  Unknown parameters are ignored.
#
# MISBEHAVIOUR ON DEMAND: the first fault id among the job ids (any id API),
# or the list's queueId, after authentication succeeded:
#   faultslow<N>      sleeps N seconds, then 200 with the job (Success)
#   faultslowms<N>    sleeps N milliseconds, then 200 with the job (Success)
#   faultmissing      200 without a JobsDetail (nor a NonExistJobIds) for
#                     the fault id; the other ids as usual
#   faultwrongid      200 with a Success JobsDetail whose JobId is
#                     jobsSuccess999999 in place of the fault id's
#   faultslowbody<N>  the head and half the body, N seconds, then the rest
#   faultreset        TCP RST (SO_LINGER 0) right after reading the request
#   faultresetbody    the head and half the body, then RST
#   fault500, fault503  500 InternalError / 503 ServiceUnavailable
#   faulttruncated    the whole (well-formed) body with a Content-Length 64
#                     bytes larger, then the connection closed
#   faultmalformed    200, right Content-Length, a body that is not
#                     well-formed XML (an unclosed <Tag>, as in seed 001)
#   faulthuge         200, a well-formed body of about 10 MB (JobsDetail x n)
#   faultbig          200, the same of about 3 MB
#   faultchunked      200, Transfer-Encoding: chunked in four chunks, a chunk
#                     extension on the first, a trailer (X-Trailer) at the end
#                     (Content-Length instead to an HTTP/1.0 request)
#   faultgzip         Content-Encoding: gzip when Accept-Encoding allows gzip
#                     (q > 0), identity otherwise; Vary: Accept-Encoding
#   faultclose        closes (FIN) right after reading the request, no answer
#   faultnolength     200 without Content-Length, the body ends at close
#   faultcontenttype  a good answer (200, a Success job) labelled
#                     Content-Type: text/plain
#   faultstatus<NNN>  the job (Success) with status NNN, Content-Length and
#                     body whatever NNN is (204 and 304 included)
#   faultreason       200 with the reason phrase "OK <script>..." and
#                     control bytes
#   faultforgeddate   403 AccessDenied with a Date 80000 s ahead (a hostile
#                     upstream); a signature CI refuses is answered as usual
#   faultrequestid    200 with an x-ci-request-id of markup, quotes, control
#                     bytes and ";Set-Cookie: x"
# For the list, the fault queue holds one Success job named after it.

use strict;
use warnings;
use utf8;

use FindBin;
use lib $FindBin::Bin;

use CosSignature ();
use Digest::SHA qw(sha1_hex);
use Fcntl qw(:flock O_WRONLY O_APPEND O_CREAT O_RDWR);
use Getopt::Long qw(:config no_ignore_case);
use IO::Socket::IP;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER IPPROTO_TCP TCP_NODELAY SHUT_WR);
use Time::HiRes ();
use Time::Local qw(timegm);

# --- options ---------------------------------------------------------------

my %opt = (secret => [],
           host => 'examplebucket-1250000000.ci.ap-beijing.myqcloud.com');

sub usage {
    print STDERR "usage: $0 --listen HOST:PORT [--tls-cert FILE --tls-key FILE]"
        . " [--host HOST] --secret ID:KEY [--secret ID:KEY ...]"
        . " [--require-token TOKEN] [--clock-offset SECONDS]"
        . " [--record FILE] [--pid-file FILE] [--no-tls-resume]"
        . " [--stale-after MS] [--idle-timeout MS]\n";
    exit 2;
}

GetOptions(\%opt, 'listen=s', 'tls-cert=s', 'tls-key=s', 'host=s',
           'secret=s@', 'require-token=s', 'clock-offset=i', 'record=s',
           'secrets-file=s', 'stale-after=i', 'idle-timeout=i',
           'pid-file=s', 'no-tls-resume', 'callback=s', 'callback-json',
           'help')
    or usage();
usage() if $opt{help} || @ARGV || !$opt{listen};

my ($LISTEN_HOST, $LISTEN_PORT) =
    $opt{listen} =~ /\A\[([^\]]+)\]:(\d+)\z/ ? ($1, $2)
  : $opt{listen} =~ /\A([^:]+):(\d+)\z/      ? ($1, $2)
  : $opt{listen} =~ /\A(\d+)\z/              ? ('127.0.0.1', $1)
  : die "--listen: HOST:PORT expected, not \"$opt{listen}\"\n";

die "--tls-cert and --tls-key go together\n"
    if !!$opt{'tls-cert'} != !!$opt{'tls-key'};

my %SECRETS;
for (@{ $opt{secret} }) {
    my ($id, $key) = /\A([^:]+):(.+)\z/s
        or die "--secret: ID:KEY expected, not \"$_\"\n";
    $SECRETS{$id} = $key;
}
die "at least one --secret ID:KEY is needed\n"
    unless %SECRETS || $opt{'secrets-file'};

# temporary credentials, each with its token and ExpiredTime
my %FILE_TOKEN;
sub read_secrets_file {
    return unless $opt{'secrets-file'};
    %SECRETS = ();
    %FILE_TOKEN = ();
    open my $fh, '<', $opt{'secrets-file'} or return;
    while (<$fh>) {
        chomp;
        my ($id, $key, $token, $expires) = split /:/;
        next unless defined $expires && $expires > time;
        $SECRETS{$id} = $key;
        $FILE_TOKEN{$id} = $token;
    }
}

my $HOST = $opt{host};
my $OFFSET = $opt{'clock-offset'} // 0;
my $TOKEN = $opt{'require-token'};
my $TLS = !!$opt{'tls-cert'};
my ($BUCKET, $REGION) = $HOST =~ /\A([^.]+)\.ci\.([^.]+)\./
                        ? ($1, $2)
                        : ('examplebucket-1250000000', 'ap-beijing');

my $STATE_FILE = $opt{record} ? "$opt{record}.faultstate"
                              : "/tmp/ci-emulator-$LISTEN_PORT.faultstate";

my $MAX_HEAD = 64 * 1024;
my $MAX_BODY = 1024 * 1024;
my $MAX_RECORDED = 1024 * 1024;     # bodies recorded whole below this
# --idle-timeout MS: a connection idle that long is closed (60 s), as a
# server's idle timeout closes a kept-alive connection
my $IDLE_TIMEOUT = defined $opt{'idle-timeout'} ? $opt{'idle-timeout'} / 1000
                                                : 60;
my $READ_TIMEOUT = 30;

# --stale-after MS: a request that comes on a connection idle that long is
# read and never answered, the connection closed: a server whose idle
# timeout ran out just as the client reused the connection
my $STALE_AFTER = defined $opt{'stale-after'} ? $opt{'stale-after'} / 1000
                                              : undef;

my $JSON = JSON::PP->new->canonical->ascii;

sub now { return time + $OFFSET }

# --- the job table ---------------------------------------------------------

my @STATES = qw(Submitted Running Pause Success Failed Cancel);
my %IS_STATE = map { $_ => 1 } @STATES;
my %TERMINAL = map { $_ => 1 } qw(Success Failed Cancel);

my $QUEUE = 'p893bcda225bf4945a378da6662e81a89';
my $SEED_QUEUE = 'p2242ab62c7c94486915508540933a2c6';
my $EPOCH = 1657166400;            # 2022-07-07T12:00:00+0800

my %API_KIND = (jobs => 'media', pic_jobs => 'pic', ai_jobs => 'ai',
                inventorytriggerjob => 'inv');
my %API_PREFIX = (jobs => 'jobs', pic_jobs => 'pic', ai_jobs => 'ai',
                  inventorytriggerjob => 'inv');

my (%JOBS, %QUEUES);

sub add_job {
    my (%j) = @_;
    $j{kind} = $API_KIND{ $j{api} };
    $j{bucket} //= $BUCKET;
    $j{region} //= $REGION;
    $j{user_data} //= 'This is my data.' unless exists $j{user_data_raw};
    $JOBS{ $j{api} }{ $j{id} } = \%j;
    push @{ $QUEUES{ $j{queue} } }, \%j if $j{listed};
    return \%j;
}

# the seeds, with their values (j8d... is Success here: a terminal seed)
add_job(api => 'jobs', id => 'j8d121820f5e411ec926ef19d53ba9c6f',
        state => 'Success', ctime => 1656314592, queue => $SEED_QUEUE,
        tag => 'Transcode', bucket => 'test-123456789',
        region => 'ap-chongqing', input => 'input/demo.mp4',
        output => 'output/out.mp4', listed => 1);
add_job(api => 'jobs', id => 'j9c0a4726f6ac11ec96aaa9b64ab18d00',
        state => 'Success', ctime => 1656314592, queue => $SEED_QUEUE,
        tag => 'Transcode', bucket => 'test-123456789',
        region => 'ap-chongqing', input => 'input/demo.mp4',
        output => 'output/out.mp4', listed => 1);
add_job(api => 'pic_jobs', id => 'c93984788066911ed89ed352d4d9d2084',
        state => 'Submitted', ctime => 1658128603,
        queue => 'p2911917386e148639319e13c285cc774',
        tag => 'PosterProduction', bucket => 'test-1234567890',
        region => 'ap-chongqing', output => 'output/out.png');
add_job(api => 'ai_jobs', id => 'a8d121820f5e411ec926ef19d53ba9c6f',
        state => 'Running', ctime => 1657167132, queue => $QUEUE,
        tag => 'Translation', bucket => 'test-123456789',
        region => 'ap-beijing', input => 'test.txt',
        output => 'test-result.txt', listed => 1);
add_job(api => 'inventorytriggerjob', id => 'b3deffea2f84911ec9cb15254008618d9',
        state => 'Running', ctime => 1656314590, start => '-',
        name => 'demo');

# traps for state detection
add_job(api => 'jobs', id => 'jobsUserData1', state => 'Running',
        ctime => $EPOCH, queue => 'p2911917386e148639319e13c285cc774',
        tag => 'Transcode', user_data => '<State>Success</State>');
add_job(api => 'jobs', id => 'jobsCdata1', state => 'Running',
        ctime => $EPOCH, queue => 'p2911917386e148639319e13c285cc774',
        tag => 'Transcode',
        user_data_raw => '<![CDATA[<State>Success</State> & more]]>');
add_job(api => 'jobs', id => 'jobsUnicode1', state => 'Success',
        ctime => $EPOCH, queue => 'p2911917386e148639319e13c285cc774',
        tag => 'Transcode', input => 'input/腾讯云 视频 "1" & <2>.mp4',
        user_data => "数据万象 \"quoted\" 'apos' & <b>bold</b>\ttab");
add_job(api => 'pic_jobs', id => 'picUserData1', state => 'Running',
        ctime => $EPOCH, queue => 'p2911917386e148639319e13c285cc774',
        tag => 'PosterProduction', user_data => '<State>Success</State>');
add_job(api => 'ai_jobs', id => 'aiUserData1', state => 'Running',
        ctime => $EPOCH, queue => $QUEUE, tag => 'Translation',
        user_data => '<State>Success</State>');

# the queue
for my $n (1 .. 25) {
    my $nn = sprintf '%02d', $n;
    add_job(api => 'ai_jobs', id => "listJob$nn", listed => 1,
            state => $STATES[ $n % 6 ], ctime => $EPOCH + $n * 3600,
            queue => $QUEUE, tag => 'Translation',
            workflow => $n % 2 ? 'w1' : 'w2',
            inventory => $n % 3 == 0 ? 'inv1' : $n % 5 == 0 ? 'inv2' : undef,
            input => $n == 5  ? 'input/a b+c.txt'
                   : $n == 7  ? 'input/腾讯云 视频.txt'
                   : $n == 11 ? 'input/q&a=1%;#?.txt'
                   : $n == 15 || $n == 21 ? 'input/shared+file 1.txt'
                   : "input/file$nn.txt");
}

my @TRANSCODE_STATES = qw(Success Failed Running Success Cancel);
for my $n (1 .. 5) {
    add_job(api => 'jobs', id => "listTranscode$n", listed => 1,
            state => $TRANSCODE_STATES[ $n - 1 ], ctime => $EPOCH + $n * 1800,
            queue => $QUEUE, tag => 'Transcode', workflow => 'w1',
            input => "input/video$n.mp4");
}

# the picture queue: tag PicProcess, 12 jobs picList01..12 in $QUEUE,
# created $EPOCH + NN hours, states by NN % 6 as the Translation jobs,
# workflowId w1 (odd) or w2 (even), inventoryTriggerJobId inv1 when NN % 4
# is 0, inputObject pic/imageNN.jpg
for my $n (1 .. 12) {
    my $nn = sprintf '%02d', $n;
    add_job(api => 'pic_jobs', id => "picList$nn", listed => 1,
            state => $STATES[ $n % 6 ], ctime => $EPOCH + $n * 3600,
            queue => $QUEUE, tag => 'PicProcess',
            workflow => $n % 2 ? 'w1' : 'w2',
            inventory => $n % 4 == 0 ? 'inv1' : undef,
            input => "pic/image$nn.jpg");
}

# the batch jobs list (GET /inventorytriggerjob): the seed b3... and
# invListNN, NN = 01..14: created $EPOCH + NN hours, states by NN % 6,
# Type Workflow (odd NN) or Job (even), workflowId w1 for Workflow ones,
# name batch-even / batch-odd
my @INVENTORY = ($JOBS{inventorytriggerjob}{b3deffea2f84911ec9cb15254008618d9});
$INVENTORY[0]{type} = 'Workflow';
for my $n (1 .. 14) {
    my $nn = sprintf '%02d', $n;
    push @INVENTORY, add_job(api => 'inventorytriggerjob', id => "invList$nn",
                             state => $STATES[ $n % 6 ],
                             ctime => $EPOCH + $n * 3600,
                             type => $n % 2 ? 'Workflow' : 'Job',
                             workflow => $n % 2 ? 'w1' : undef,
                             name => $n % 2 ? 'batch-odd' : 'batch-even');
}

# WORKFLOW RUNS (GET /workflowexecution/<runId>, GET /workflowexecution?...)
#   run<State><N>, State one of Success Failed Running Cancel: made on
#   request (workflow w9, created 2022-07-17T12:00:00+0800 + N minutes);
#   runListNN, NN = 01..15: workflow w1 (odd NN) or w2 (even), created
#   $EPOCH + NN hours, state by NN % 4: 0 Success, 1 Running, 2 Failed,
#   3 Cancel; Object input/videoNN.mp4; jobId inv1 when NN % 5 == 0.
#   timed<S>x<N>: Running, then Success from S seconds after its first
#   request on (as timed jobs; with --callback, WorkflowFinish then).
#   An unknown run id: <NonExistRunIds>.
my @RUN_STATES = qw(Success Running Failed Cancel);
my %IS_RUN_STATE = map { $_ => 1 } @RUN_STATES;
my (%RUNS, @RUN_LIST);
for my $n (1 .. 15) {
    my $nn = sprintf '%02d', $n;
    my $r = { id => "runList$nn", state => $RUN_STATES[ $n % 4 ],
              workflow => $n % 2 ? 'w1' : 'w2', ctime => $EPOCH + $n * 3600,
              object => "input/video$nn.mp4",
              job => $n % 5 == 0 ? 'inv1' : undef };
    $RUNS{ $r->{id} } = $r;
    push @RUN_LIST, $r;
}

sub find_run {
    my ($id) = @_;
    return $RUNS{$id} if $RUNS{$id};
    if ($id =~ /\Atimed([2-9]|[1-9][0-9]{1,2})x([1-9][0-9]{0,8})\z/) {
        my $state = timed_state('workflowexecution', $id, $1);
        return { id => $id, state => $state eq 'Submitted' ? 'Running'
                                                           : $state,
                 workflow => 'w9', ctime => $EPOCH + 10 * 86400 + $2 * 60,
                 object => "input/$id.mp4" };
    }
    my ($state, $n) = $id =~ /\Arun(Success|Failed|Running|Cancel)
                               ([1-9][0-9]{0,8})\z/x or return;
    return { id => $id, state => $state, workflow => 'w9',
             ctime => $EPOCH + 10 * 86400 + $n * 60,
             object => "input/$id.mp4" };
}

# jobs made on request: <prefix><State><N>, genSuccess<N>, fault ids
sub generated_job {
    my ($api, $id) = @_;
    my $prefix = $API_PREFIX{$api};

    my ($state, $n, $progress);
    if ($id =~ /\A\Q$prefix\E(Submitted|Running|Pause|Success|Failed|Cancel)
                ([1-9][0-9]{0,8})\z/x) {
        ($state, $n) = ($1, $2);
    } elsif ($api eq 'jobs' && $id =~ /\AgenSuccess([1-9][0-9]{0,8})\z/) {
        ($state, $n) = ('Success', $1);
    } elsif ($id eq 'faultstate') {
        ($state, $n) = (next_fault_state($api), 1);
    } elsif ($id =~ /\Atimed([2-9]|[1-9][0-9]{1,2})x([1-9][0-9]{0,8})\z/) {
        ($state, $n) = (timed_state($api, $id, $1), $2);
    } elsif ($api eq 'jobs'
             && $id =~ /\Atick([1-9][0-9]{0,2})x([1-9][0-9]{0,8})\z/) {
        ($state, $n) = ('Running', $2);
        $progress = tick_progress($1, $2);
    } elsif (fault_kind($id)) {
        ($state, $n) = ('Success', 1);
    } elsif ($api eq 'jobs'
             && $id =~ /\Abusy([1-9][0-9]{0,2})x([1-9][0-9]{0,8})\z/
             && $1 <= 256) {
        my ($kib, $age) = ($1, busy_age($api, $id));
        return { %{ generated_job($api, "jobsRunning$2") }, id => $id,
                 progress => int($age * 10) % 100,
                 user_data => 'x' x ($kib * 1024) };
    } else {
        return;
    }

    return { api => $api, kind => $API_KIND{$api}, id => $id,
             state => $state, ctime => $EPOCH + 10 * 86400 + $n * 60,
             queue => 'p2911917386e148639319e13c285cc774',
             tag => { media => 'Transcode', pic => 'PosterProduction',
                      ai => 'Translation', inv => '' }->{ $API_KIND{$api} },
             bucket => $BUCKET, region => $REGION, name => "batch-$id",
             user_data => 'This is my data.', progress => $progress };
}

sub find_job {
    my ($api, $id) = @_;
    return $JOBS{$api}{$id} // generated_job($api, $id);
}

# --- XML ---------------------------------------------------------------------

sub esc {
    my ($s) = @_;
    $s =~ s/&/&amp;/g;
    $s =~ s/</&lt;/g;
    $s =~ s/>/&gt;/g;
    $s =~ s/[\x00-\x08\x0b\x0c\x0e-\x1f]//g;
    return $s;
}

# render(name, value): value undef -> <name/>; '' or text -> <name>text</name>;
# \'raw' -> raw markup; [ name => value, ... ] -> child elements in order
sub render {
    my ($name, $value, $depth) = @_;
    my $pad = '    ' x ($depth // 0);
    return "$pad<$name/>\n" unless defined $value;
    return "$pad<$name>$$value</$name>\n" if ref $value eq 'SCALAR';
    return "$pad<$name>" . esc($value) . "</$name>\n" unless ref $value;

    my $xml = "$pad<$name>\n";
    for (my $i = 0; $i < @$value; $i += 2) {
        $xml .= render($value->[$i], $value->[ $i + 1 ], ($depth // 0) + 1);
    }
    return "$xml$pad</$name>\n";
}

sub ts {
    my ($epoch) = @_;
    my @t = gmtime($epoch + 8 * 3600);
    return sprintf '%04d-%02d-%02dT%02d:%02d:%02d+0800',
                   $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0];
}

sub times_of {
    my ($j) = @_;
    my $s = $j->{state};
    return (ts($j->{ctime}),
            $j->{start} // ($s eq 'Submitted' ? '-' : ts($j->{ctime} + 1)),
            $j->{end} // ($TERMINAL{$s} ? ts($j->{ctime} + 81) : '-'));
}

sub user_data {
    my ($j) = @_;
    return exists $j->{user_data_raw} ? \$j->{user_data_raw} : $j->{user_data};
}

sub workflow_parts {
    my ($j) = @_;
    my @p;
    push @p, Workflow => [ RunId => "r$j->{id}", WorkflowId => $j->{workflow},
                           WorkflowName => "workflow-$j->{workflow}",
                           Name => 'node1' ]
        if $j->{workflow};
    push @p, InventoryTriggerJobId => $j->{inventory} if $j->{inventory};
    return @p;
}

my %FAILED = (media => [ 'InvalidInput', 'The input file is not a valid media file.' ],
              pic   => [ 'InvalidParameter', 'The template does not exist.' ],
              ai    => [ 'InvalidInput', 'The input text is empty.' ],
              inv   => [ 'InternalError', 'Some objects failed.' ]);

sub code_message {
    my ($j, $empty) = @_;
    return @{ $FAILED{ $j->{kind} } } if $j->{state} eq 'Failed';
    return ('Success', $empty);
}

# seed 002: a media (transcode) job
sub media_tree {
    my ($j) = @_;
    my ($created, $started, $ended) = times_of($j);
    my $s = $j->{state};
    my ($code, $message) = code_message($j, '');
    my $output = $j->{output} // "output/$j->{id}.mp4";

    my @op = (
        TemplateId => 't1460606b9752148c4ab182f55163ba7cd',
        WatermarkTemplateId => 't1318c5f428d474afba1797f84091cbe22',
        WatermarkTemplateId => 't1318c5f428d474afba1797f84091cbe23',
        WatermarkTemplateId => 't1318c5f428d474afba1797f84091cbe24',
        RemoveWatermark => [ Dx => 150, Dy => 150, Width => 75, Height => 75 ],
        DigitalWatermark => [ Type => 'Text', Message => '123456789ab',
                              Version => 'V1', IgnoreError => 'false',
                              State => 'Running' ],
        Output => [ Region => $j->{region}, Bucket => $j->{bucket},
                    Object => $output ],
        UserData => user_data($j),
        JobLevel => 0,
    );

    push @op, MediaInfo => [
        Format => [ Bitrate => '834.736000', Duration => '13.654000',
                    FormatLongName => 'QuickTime / MOV',
                    FormatName => 'mov,mp4,m4a,3gp,3g2,mj2', NumProgram => 0,
                    NumStream => 2, Size => 1424687,
                    StartTime => '0.000000' ],
        Stream => [
            Audio => [ Bitrate => '104.047000', Channel => 2,
                       ChannelLayout => 'stereo',
                       CodecLongName => 'AAC (Advanced Audio Coding)',
                       CodecName => 'aac', CodecTag => '0x6134706d',
                       CodecTagString => 'mp4a', CodecTimeBase => '1/44100',
                       Duration => '13.653311', Index => 1, Language => 'und',
                       SampleFmt => 'fltp', SampleRate => 44100,
                       StartTime => '0.000000', Timebase => '1/44100' ],
            Subtitle => undef,
            Video => [ AvgFps => '25.000000', Bitrate => '763.774000',
                       CodecLongName => 'H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10',
                       CodecName => 'h264', CodecTag => '0x31637661',
                       CodecTagString => 'avc1', CodecTimeBase => '1/12800',
                       ColorPrimaries => 'bt470bg', ColorRange => 'tv',
                       ColorTransfer => 'smpte170m', Duration => '12.960000',
                       Fps => '25.000000', HasBFrame => 0, Height => 960,
                       Index => 0, Language => 'und', Level => 10,
                       NumFrames => 324, PixFormat => 'yuv420p',
                       Profile => 'High', RefFrames => 1,
                       Rotation => '0.000000', StartTime => '0.000000',
                       Timebase => '1/12800', Width => 544 ],
        ],
    ], MediaResult => [
        OutputFile => [ Bucket => $j->{bucket}, Region => $j->{region},
                        ObjectName => $output,
                        Md5Info => [ Md5 => substr(sha1_hex($j->{id}), 0, 32),
                                     ObjectName => $output ] ],
    ] if $s eq 'Success';

    return [
        Code => $code, Message => $message, JobId => $j->{id}, State => $s,
        Progress => $j->{progress}
                    // { Submitted => 0, Running => 30, Pause => 30,
                         Success => 100, Failed => 30, Cancel => 0 }->{$s},
        CreationTime => $created, StartTime => $started, EndTime => $ended,
        QueueId => $j->{queue}, Tag => $j->{tag}, workflow_parts($j),
        Input => [ BucketId => $j->{bucket},
                   Object => $j->{input} // 'input/demo.mp4',
                   Region => $j->{region} ],
        Operation => \@op,
    ];
}

# seed 000: an image-processing (poster) job
sub pic_tree {
    my ($j) = @_;
    my ($created, $started, $ended) = times_of($j);
    my ($code, $message) = code_message($j, undef);
    my $assets = 'https://static.taishan.qq.com/xrdnest/pstemplate/assets';

    return [
        Code => $code, Message => $message, JobId => $j->{id},
        State => $j->{state}, CreationTime => $created, EndTime => $ended,
        StartTime => $started, QueueId => $j->{queue}, Tag => $j->{tag},
        Operation => [
            PosterProduction => [
                TemplateId => '6324349b569067d4d11a2c2c',
                Info => [
                    Background => "$assets/e96c14ea085cda431481e774954fa3a5.png?imageMogr2/format/webp",
                    EXPIRY => 'EXPIRY', MM => 'MM', YY => 'YY',
                    base => "$assets/ba206498074a034722a936ec12eef1f6.png?imageMogr2/format/webp",
                ],
            ],
            Output => [ Bucket => $j->{bucket},
                        Object => $j->{output} // "output/$j->{id}.png",
                        Region => $j->{region} ],
            TemplateId => 't10461fe2bd5a649db9022452ec71e0381',
            TemplateName => 'test',
            UserData => user_data($j),
            JobLevel => 0,
        ],
    ];
}

# seed 001: an AI (translation) job
sub ai_tree {
    my ($j) = @_;
    my ($created, $started, $ended) = times_of($j);
    my ($code, $message) = code_message($j, '');

    return [
        Code => $code, Message => $message, JobId => $j->{id},
        State => $j->{state}, CreationTime => $created, StartTime => $started,
        EndTime => $ended, QueueId => $j->{queue}, Tag => $j->{tag},
        workflow_parts($j),
        Input => [ Object => $j->{input} // 'test.txt', Lang => 'zh',
                   Type => 'txt' ],
        Operation => [
            Translation => [ Lang => 'en', Type => 'txt' ],
            Output => [ Region => $j->{region}, Bucket => $j->{bucket},
                        Object => $j->{output} // "result/$j->{id}.txt" ],
            UserData => user_data($j),
            JobLevel => 0,
        ],
    ];
}

# seed 003: a batch (inventory-triggered) job
sub inv_tree {
    my ($j) = @_;
    my ($created, $started, $ended) = times_of($j);
    my ($code, $message) = code_message($j, undef);

    return [
        Code => $code, Type => $j->{type} // 'Workflow', Message => $message,
        Name => $j->{name} // 'demo', JobId => $j->{id},
        State => $j->{state}, CreationTime => $created, StartTime => $started,
        EndTime => $ended,
        Input => [ Prefix => 'input' ],
        Operation => [
            TimeInterval => [ Start => '2022-02-01T12:00:00+0800',
                              End => '2022-05-01T12:00:00+0800' ],
            WorkflowIds => 'w7476ff3564ee45b7b490d64bccaba6cc',
        ],
    ];
}

my %TREE = (media => \&media_tree, pic => \&pic_tree, ai => \&ai_tree,
            inv => \&inv_tree);

sub job_tree { return $TREE{ $_[0]{kind} }->($_[0]) }

# the body of an id lookup, as UTF-8 bytes
sub lookup_xml {
    my ($api, $found, $missing, $rid) = @_;
    my @parts;
    push @parts, RequestId => $rid if $api eq 'inventorytriggerjob';
    push @parts, JobsDetail => job_tree($_) for @$found;
    push @parts, NonExistJobIds => $_ for @$missing;
    my $xml = render(Response => \@parts);
    utf8::encode($xml);
    return $xml;
}

sub list_xml {
    my ($jobs, $next) = @_;
    my $xml = render(Response => [ (map { (JobsDetail => job_tree($_)) } @$jobs),
                                   NextToken => $next ]);
    utf8::encode($xml);
    return $xml;
}

# seed of 436/53992: one workflow run, its topology and tasks
sub run_tree {
    my ($r) = @_;
    my $done = $r->{state} ne 'Running';
    return [
        RunId => $r->{id}, WorkflowId => $r->{workflow},
        WorkflowName => "workflow-$r->{workflow}", State => $r->{state},
        CreateTime => ts($r->{ctime}), Object => $r->{object},
        Topology => [
            Dependencies => [ Start => 'Snapshot_1581665960536',
                              Snapshot_1581665960536 => 'End' ],
            Nodes => [
                Start => [ Type => 'Start',
                           Input => [ QueueId => $QUEUE,
                                      ObjectPrefix => 'input/' ] ],
                Snapshot_1581665960536 => [
                    Type => 'Snapshot',
                    Operation => [ TemplateId => 't1snapshot',
                                   Output => [ Region => $REGION,
                                               Bucket => $BUCKET,
                                               Object => 'snap/${RunId}.jpg' ] ],
                ],
            ],
        ],
        Tasks => [ Type => 'Start', CreateTime => ts($r->{ctime}),
                   EndTime => ts($r->{ctime} + 1), State => 'Success',
                   JobId => '', Name => 'Start' ],
        Tasks => [ Type => 'Snapshot', CreateTime => ts($r->{ctime} + 1),
                   EndTime => $done ? ts($r->{ctime} + 30) : '-',
                   State => $r->{state}, JobId => "j$r->{id}",
                   Name => 'Snapshot_1581665960536' ],
    ];
}

sub run_xml {
    my ($run, $id, $rid) = @_;
    my $xml = render(Response => [ RequestId => $rid,
                                   $run ? (WorkflowExecution => run_tree($run))
                                        : (NonExistRunIds => $id) ]);
    utf8::encode($xml);
    return $xml;
}

sub error_xml {
    my ($code, $message, $rid) = @_;
    my $xml = '<Error><Code>' . esc($code) . '</Code><Message>'
            . esc($message) . '</Message><RequestId>' . esc($rid)
            . '</RequestId></Error>';
    utf8::encode($xml) if utf8::is_utf8($xml);
    return $xml;
}

# a well-formed body of at least $bytes: many JobsDetail
sub big_xml {
    my ($api, $bytes, $rid, $list) = @_;
    my $tpl = render(JobsDetail => job_tree(generated_job($api, 'faultbig')), 1);
    utf8::encode($tpl);
    my ($before, $after) = split /faultbig/, $tpl, 2;
    my $head = "<Response>\n";
    $head .= "    <RequestId>$rid</RequestId>\n" if $api eq 'inventorytriggerjob';
    my @parts = ($head);
    my $size = length $head;
    for (my $i = 1; $size < $bytes; $i++) {
        my $part = "${before}bigjob$i$after";
        push @parts, $part;
        $size += length $part;
    }
    push @parts, "    <NextToken></NextToken>\n" if $list;
    return join '', @parts, "</Response>\n";
}

# --- faults ------------------------------------------------------------------

sub fault_kind {
    my ($id) = @_;
    return $id =~ /\Afault(slow[0-9]{1,3}|slowms[0-9]{1,5}|slowbody[0-9]{1,3}
                           |missing|wrongid|reset|resetbody
                           |500|503|truncated|malformed|huge|big|chunked|gzip
                           |close|nolength|contenttype|status[0-9]{3}
                           |reason|requestid|forgeddate)\z/x ? $1 : undef;
}

sub next_fault_state {
    my ($api) = @_;
    sysopen my $fh, $STATE_FILE, O_RDWR | O_CREAT, 0644 or return 'Submitted';
    flock $fh, LOCK_EX;
    my $data = '';
    1 while sysread $fh, $data, 4096, length $data;
    my %count = map { split / /, $_, 2 } grep { / / } split /\n/, $data;
    my $n = $count{$api} // 0;
    $count{$api} = $n + 1;
    sysseek $fh, 0, 0;
    truncate $fh, 0;
    syswrite $fh, join '', map { "$_ $count{$_}\n" } sort keys %count;
    close $fh;
    return ('Submitted', 'Running')[$n] // 'Success';
}

# a ticking job's progress: its step number now, mod 100
sub tick_progress {
    my ($secs, $n) = @_;
    my $ms = int(Time::HiRes::time() * 1000);
    my $offset = $n * 10 * $secs % (1000 * $secs);
    return int(($ms - $offset) / (1000 * $secs)) % 100;
}

# the seconds since the first request for a timed or busy job
sub busy_age {
    my ($api, $id) = @_;
    my $now = Time::HiRes::time();
    my $first = $now;
    if (sysopen my $fh, $STATE_FILE, O_RDWR | O_CREAT, 0644) {
        flock $fh, LOCK_EX;
        my $data = '';
        1 while sysread $fh, $data, 4096, length $data;
        my %count = map { split / /, $_, 2 } grep { / / } split /\n/, $data;
        my $key = "timed:$api:$id";
        if (defined $count{$key}) {
            $first = $count{$key};
        } else {
            $count{$key} = $now;
            sysseek $fh, 0, 0;
            truncate $fh, 0;
            syswrite $fh, join '', map { "$_ $count{$_}\n" } sort keys %count;
        }
        close $fh;
    }
    return $now - $first;
}

# the state of a timed job: by the time since its first request
sub timed_state {
    my ($api, $id, $secs) = @_;
    my $age = busy_age($api, $id);
    # its first request (busy_age's lock released: the notifier reads the
    # state file too)
    notify_later($api, $id, Time::HiRes::time() + $secs)
        if $age == 0 && $opt{callback};
    return $age < 1 ? 'Submitted' : $age < $secs ? 'Running' : 'Success';
}

# --- the list ----------------------------------------------------------------

sub parse_ci_time {
    my ($s) = @_;
    my ($Y, $m, $d, $H, $M, $S, $sign, $oh, $om) = $s =~
        /\A([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})
           ([+-])([0-9]{2})([0-9]{2})\z/x or return;
    return if $m < 1 || $m > 12 || $d < 1 || $H > 23 || $M > 59 || $S > 59
              || $oh > 14 || $om > 59;
    my $t = eval { timegm($S, $M, $H, $d, $m - 1, $Y) } // return;
    return $t - ($sign eq '+' ? 1 : -1) * ($oh * 3600 + $om * 60);
}

sub page_token {
    my ($fingerprint, $offset) = @_;
    return substr(sha1_hex("ci-emulator-next\0$fingerprint\0$offset"), 0, 20)
         . sprintf('%x', $offset);
}

# -> { status, body, code }
sub list_answer {
    my ($params, $rid) = @_;
    my $bad = sub {
        return { status => 400, code => 'InvalidArgument',
                 body => error_xml('InvalidArgument', $_[0], $rid) };
    };

    my %q;
    for (@$params) {
        my ($name, $value) = @$_;
        return $bad->("The parameter $name is repeated.") if exists $q{$name};
        utf8::decode($value);
        $q{$name} = $value;
    }

    for (qw(queueId tag)) {
        return $bad->("The parameter $_ is required.")
            unless defined $q{$_} && length $q{$_};
    }

    my $size = $q{size} // 10;
    return $bad->('The parameter size must be an integer from 1 to 100.')
        unless $size =~ /\A[1-9][0-9]{0,2}\z/ && $size <= 100;

    my $order = $q{orderByTime} // 'Desc';
    return $bad->('The parameter orderByTime must be Desc or Asc.')
        unless $order eq 'Desc' || $order eq 'Asc';

    my %states;
    for (split /,/, $q{states} // 'All', -1) {
        return $bad->("The parameter states has an invalid state \"$_\".")
            unless $_ eq 'All' || $IS_STATE{$_};
        $states{$_} = 1;
    }
    return $bad->('The parameter states is empty.') unless %states;
    %states = () if $states{All};

    my %range;
    for (qw(startCreationTime endCreationTime)) {
        next unless defined $q{$_};
        $range{$_} = parse_ci_time($q{$_})
            // return $bad->("The parameter $_ must be like "
                             . '2001-01-01T00:00:00+0800.');
    }

    my %match;
    for (qw(workflowId inventoryTriggerJobId inputObject)) {
        $match{$_} = $q{$_} if defined $q{$_} && length $q{$_};
    }

    my $fingerprint = join "\0", $q{queueId}, $q{tag},
        join(',', sort keys %states), $order,
        (map { $range{$_} // '' } qw(startCreationTime endCreationTime)),
        (map { $match{$_} // '' } qw(workflowId inventoryTriggerJobId
                                     inputObject));

    my @jobs;
    if (my $fault = fault_kind($q{queueId})) {
        @jobs = (generated_job('jobs', $q{queueId}));
        $jobs[0]{tag} = $q{tag};
    } else {
        my %field = (workflowId => 'workflow',
                     inventoryTriggerJobId => 'inventory',
                     inputObject => 'input');
        @jobs = grep {
            my $j = $_;
            $j->{tag} eq $q{tag}
            && (!%states || $states{ $j->{state} })
            && (!defined $range{startCreationTime}
                || $j->{ctime} > $range{startCreationTime})
            && (!defined $range{endCreationTime}
                || $j->{ctime} < $range{endCreationTime})
            && !grep { ($j->{ $field{$_} } // '') ne $match{$_} } keys %match
        } @{ $QUEUES{ $q{queueId} } || [] };

        @jobs = sort { $a->{ctime} <=> $b->{ctime} || $a->{id} cmp $b->{id} }
                @jobs;
        @jobs = reverse @jobs if $order eq 'Desc';
    }

    my $offset = 0;
    if (defined $q{nextToken} && length $q{nextToken}) {
        my ($hex) = $q{nextToken} =~ /\A[0-9a-f]{20}([0-9a-f]{1,8})\z/;
        $offset = defined $hex ? hex $hex : -1;
        return $bad->('The parameter nextToken is invalid.')
            if $offset < 1 || $offset > @jobs
               || page_token($fingerprint, $offset) ne $q{nextToken};
    }

    my $last = $offset + $size;
    $last = @jobs if $last > @jobs;
    my $next = $last < @jobs ? page_token($fingerprint, $last) : '';

    return { status => 200,
             body => list_xml([ @jobs[ $offset .. $last - 1 ] ], $next) };
}

# The neighbouring lists, by one engine.  spec: required (names), states
# (allowed, All aside), items, match (parameter => item field), rank (sort
# field), extra (parameter => allowed values), render (items, next token).
# An empty value is as if absent; repeated parameters are refused.
sub generic_list {
    my ($params, $rid, $spec) = @_;
    my $bad = sub {
        return { status => 400, code => 'InvalidArgument',
                 body => error_xml('InvalidArgument', $_[0], $rid) };
    };

    my %q;
    for (@$params) {
        my ($name, $value) = @$_;
        return $bad->("The parameter $name is repeated.") if exists $q{$name};
        utf8::decode($value);
        $q{$name} = $value;
    }
    delete @q{ grep { !length $q{$_} } keys %q };

    for (@{ $spec->{required} }) {
        return $bad->("The parameter $_ is required.") unless defined $q{$_};
    }

    my $size = $q{size} // 10;
    return $bad->('The parameter size must be an integer from 1 to 100.')
        unless $size =~ /\A[1-9][0-9]{0,2}\z/ && $size <= 100;

    my $order = $q{orderByTime} // 'Desc';
    return $bad->('The parameter orderByTime must be Desc or Asc.')
        unless $order eq 'Desc' || $order eq 'Asc';

    for my $name (keys %{ $spec->{extra} || {} }) {
        next unless defined $q{$name};
        return $bad->("The parameter $name is invalid.")
            unless grep { $_ eq $q{$name} } @{ $spec->{extra}{$name} };
    }

    my %states;
    for (split /,/, $q{states} // 'All', -1) {
        return $bad->("The parameter states has an invalid state \"$_\".")
            unless $_ eq 'All' || $spec->{states}{$_};
        $states{$_} = 1;
    }
    %states = () if $states{All};

    my %range;
    for (qw(startCreationTime endCreationTime)) {
        next unless defined $q{$_};
        $range{$_} = parse_ci_time($q{$_})
            // return $bad->("The parameter $_ must be like "
                             . '2001-01-01T00:00:00+0800.');
    }

    my %match = map { defined $q{$_} ? ($_ => $q{$_}) : () }
                keys %{ $spec->{match} };

    my $fingerprint = join "\0", $spec->{name},
        (map { "$_=$q{$_}" } grep { $_ ne 'nextToken' && $_ ne 'size' }
                             sort keys %q);

    my @items = grep {
        my $j = $_;
        (!%states || $states{ $j->{state} })
        && (!defined $range{startCreationTime}
            || $j->{ctime} >= $range{startCreationTime})
        && (!defined $range{endCreationTime}
            || $j->{ctime} <= $range{endCreationTime})
        && !grep { ($j->{ $spec->{match}{$_} } // '') ne $match{$_} }
                 keys %match
    } @{ $spec->{items} };

    @items = sort { $a->{ctime} <=> $b->{ctime} || $a->{id} cmp $b->{id} }
             @items;
    @items = reverse @items if $order eq 'Desc';

    my $offset = 0;
    if (defined $q{nextToken}) {
        my ($hex) = $q{nextToken} =~ /\A[0-9a-f]{20}([0-9a-f]{1,8})\z/;
        $offset = defined $hex ? hex $hex : -1;
        return $bad->('The parameter nextToken is invalid.')
            if $offset < 1 || $offset > @items
               || page_token($fingerprint, $offset) ne $q{nextToken};
    }

    my $last = $offset + $size;
    $last = @items if $last > @items;
    my $next = $last < @items ? page_token($fingerprint, $last) : '';

    my $xml = $spec->{render}->([ @items[ $offset .. $last - 1 ] ], $next,
                                \%q);
    utf8::encode($xml);
    return { status => 200, body => $xml };
}

sub queue_items {
    my ($kind, $q) = @_;
    return [ grep { $_->{kind} eq $kind && $_->{tag} eq ($q->{tag} // '') }
             @{ $QUEUES{ $q->{queueId} // '' } || [] } ];
}

my %JOB_STATES = map { $_ => 1 } @STATES;

sub list_spec {
    my ($api, $params, $rid) = @_;
    my %q = map { @$_ } @$params;
    my $jobs = sub {
        my ($items, $next) = @_;
        return render(Response => [ (map { (JobsDetail => job_tree($_)) }
                                     @$items), NextToken => $next ]);
    };

    return { name => 'pic', required => [qw(queueId tag)],
             states => \%JOB_STATES, items => queue_items('pic', \%q),
             match => { workflowId => 'workflow',
                        inventoryTriggerJobId => 'inventory',
                        inputObject => 'input' },
             render => $jobs }
        if $api eq 'pic_jobs';

    return { name => 'ai', required => [qw(queueId tag)],
             states => \%JOB_STATES, items => queue_items('ai', \%q),
             match => {}, render => $jobs }
        if $api eq 'ai_jobs';

    return { name => 'inv', required => [], states => \%JOB_STATES,
             items => \@INVENTORY,
             match => { type => 'type', workflowId => 'workflow',
                        jobId => 'id', name => 'name' },
             extra => { type => [qw(Workflow Job)] },
             render => sub {
                 my ($items, $next) = @_;
                 return render(Response => [
                     RequestId => $rid,
                     (map { (JobsDetail => job_tree($_)) } @$items),
                     NextToken => $next ]);
             } }
        if $api eq 'inventorytriggerjob';

    return { name => 'run', required => [], states => \%IS_RUN_STATE,
             items => \@RUN_LIST,
             match => { workflowId => 'workflow', name => 'object',
                        jobId => 'job' },
             render => sub {
                 my ($items, $next) = @_;
                 return render(Response => [
                     RequestId => $rid,
                     (map { (WorkflowExecutionList => [
                         RunId => $_->{id}, WorkflowId => $_->{workflow},
                         Object => $_->{object},
                         CreateTime => ts($_->{ctime}),
                         State => $_->{state} ]) } @$items),
                     NextToken => $next ]);
             } };
}

# --- one request ---------------------------------------------------------------

my $RID_SEQ = 0;

sub new_request_id {
    return encode_base64(sprintf('%08x_%08x_%04x_%x', int(time),
                                 int(rand(0xffffffff)), $$ & 0xffff,
                                 ++$RID_SEQ), '');
}

# -> { status, body, code, signature, fault, headers => [...] }
sub answer {
    my ($req, $rid) = @_;

    read_secrets_file();

    my $v = CosSignature::verify(method => $req->{method},
                                 target => $req->{target},
                                 headers => $req->{h}, secrets => \%SECRETS,
                                 now => now());
    my %base = (signature => $v->{ok} ? 'ok' : "bad: $v->{reason}");

    my $error = sub {
        my ($status, $code, $message, @headers) = @_;
        return { %base, status => $status, code => $code,
                 body => error_xml($code, $message, $rid),
                 headers => \@headers };
    };

    return $error->(405, 'MethodNotAllowed',
                    'The specified method is not allowed against this '
                    . 'resource.', 'Allow: GET')
        unless $req->{method} eq 'GET';

    return $error->(403, 'InvalidHost', 'The Host header does not name this '
                    . 'bucket.')
        unless defined $req->{h}{host} && $req->{h}{host} eq $HOST;

    return $error->(400, 'InvalidArgument', 'The request target has an '
                    . 'invalid percent-encoding.')
        if $req->{target} =~ /%(?![0-9A-Fa-f]{2})/;

    return $error->(403, $v->{code}, $v->{message}) unless $v->{ok};

    return $error->(403, 'InvalidAccessKeyId', 'token invalid')
        if defined $TOKEN
           && ($req->{h}{'x-ci-security-token'} // '') ne $TOKEN;

    my ($ak) = ($req->{h}{authorization} // '') =~ /q-ak=([^&]+)/;
    return $error->(403, 'InvalidAccessKeyId', 'token invalid')
        if $opt{'secrets-file'}
           && ($req->{h}{'x-ci-security-token'} // '')
              ne ($FILE_TOKEN{$ak // ''} // "\0");

    my ($raw_path, $query) = $req->{target} =~ /\A([^?]*)(?:\?(.*))?\z/s;
    my $path = CosSignature::uri_decode($raw_path);

    if ($path eq '/jobs') {
        my @params = CosSignature::split_query($query);
        my %q = map { @$_ } @params;
        my $fault = fault_kind($q{queueId} // '') ? $q{queueId} : undef;
        return { %base, %{ fault_answer($fault, 'jobs', $rid, 1)
                           // list_answer(\@params, $rid) }, fault => $fault };
    }

    if ($path =~ m{\A/(pic_jobs|ai_jobs|inventorytriggerjob|workflowexecution)
                    \z}x) {
        my $api = $1;
        my @params = CosSignature::split_query($query);
        return { %base, %{ generic_list(\@params, $rid,
                                        list_spec($api, \@params, $rid)) } };
    }

    if ($path =~ m{\A/workflowexecution/(.*)\z}s) {
        my $id = $1;
        return $error->(400, 'InvalidArgument', 'A run id is 1 to 64 '
                        . 'letters and digits.')
            unless $id =~ /\A[A-Za-z0-9]{1,64}\z/;
        return { %base, status => 200,
                 body => run_xml(scalar find_run($id), $id, $rid) };
    }

    my ($api, $ids) = $path =~ m{\A/(jobs|pic_jobs|ai_jobs|inventorytriggerjob)
                                  /(.*)\z}xs
        or return $error->(404, 'NoSuchApi', 'The specified API does not '
                           . 'exist.');

    my @ids = split /,/, $ids, -1;
    return $error->(400, 'InvalidArgument', 'The job id is missing.')
        unless @ids;
    return $error->(400, 'InvalidArgument', 'A job id is 1 to 64 letters '
                    . 'and digits.')
        if grep { !/\A[A-Za-z0-9]{1,64}\z/ } @ids;
    return $error->(400, 'InvalidArgument', 'At most 10 job ids.')
        if @ids > 10;
    return $error->(400, 'InvalidArgument', 'Only one job id.')
        if $api ne 'jobs' && @ids > 1;

    my ($fault) = grep { fault_kind($_) } @ids;
    if (my $f = fault_answer($fault, $api, $rid, 0)) {
        return { %base, %$f, fault => $fault };
    }

    my (@found, @missing);
    for (@ids) {
        next if $_ eq 'faultmissing';
        my $j = find_job($api, $_);
        $j = { %$j, id => 'jobsSuccess999999' } if $_ eq 'faultwrongid';
        push @{ $j ? \@found : \@missing }, $j // $_;
    }

    my $status = ($fault // '') =~ /\Afaultstatus([0-9]{3})\z/ ? $1 : 200;
    return { %base, status => $status, fault => $fault,
             body => lookup_xml($api, \@found, \@missing, $rid) };
}

# the answers that replace the normal one; undef: answer normally (and
# misbehave while delivering, see deliver())
sub fault_answer {
    my ($fault, $api, $rid, $list) = @_;
    my $kind = fault_kind($fault // '') // return;

    return { status => 403, code => 'AccessDenied',
             body => error_xml('AccessDenied', 'Access Denied.', $rid) }
        if $kind eq 'forgeddate';
    return { status => 500, code => 'InternalError',
             body => error_xml('InternalError', 'We encountered an internal '
                               . 'error. Please try again.', $rid) }
        if $kind eq '500';
    return { status => 503, code => 'ServiceUnavailable',
             body => error_xml('ServiceUnavailable', 'Please reduce your '
                               . 'request rate.', $rid) }
        if $kind eq '503';
    return { status => 200,
             body => "<Response>\n    <JobsDetail>\n        <JobId>$fault"
                   . "</JobId>\n        <State>Success</State>\n        "
                   . "<Tag>Translation<Tag>\n    </JobsDetail>\n</Response>\n" }
        if $kind eq 'malformed';
    return { status => 200, body => big_xml($api, 10 * 1000 * 1000, $rid, $list) }
        if $kind eq 'huge';
    return { status => 200, body => big_xml($api, 3 * 1000 * 1000, $rid, $list) }
        if $kind eq 'big';
    return;
}

sub gzip_allowed {
    my ($accept) = @_;
    my ($gzip, $star);
    for (split /,/, $accept // '') {
        my ($coding, @p) = map { s/\A\s+|\s+\z//gr } split /;/;
        my $q = 1;
        for (@p) { $q = $1 if /\Aq\s*=\s*([0-9.]+)\z/i }
        $gzip = $q if lc $coding eq 'gzip' || lc $coding eq 'x-gzip';
        $star = $q if $coding eq '*';
    }
    return defined $gzip ? $gzip > 0 : defined $star && $star > 0;
}

# --- the connection -----------------------------------------------------------

my $PARENT = $$;
# what a hostile upstream puts where a client would show it: markup and
# control bytes (but no CR or LF, which nginx's parser refuses)
my $HOSTILE_REASON = "OK <script>alert(1)</script>\x01\x7f";
my $HOSTILE_REQUEST_ID = "a<b>\"c' \x01\x7f;Set-Cookie: x";

my %REASON = (200 => 'OK', 400 => 'Bad Request', 403 => 'Forbidden',
              404 => 'Not Found', 405 => 'Method Not Allowed',
              500 => 'Internal Server Error', 503 => 'Service Unavailable');
my @DAY = qw(Sun Mon Tue Wed Thu Fri Sat);
my @MON = qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec);

our $DATE_SHIFT = 0;       # faultforgeddate's

sub http_date {
    my @t = gmtime(int(now() + $DATE_SHIFT));
    return sprintf '%s, %02d %s %04d %02d:%02d:%02d GMT',
                   $DAY[ $t[6] ], $t[3], $MON[ $t[4] ], $t[5] + 1900,
                   @t[2, 1, 0];
}

sub parent_check { POSIX::_exit(0) if getppid() != $PARENT }

# CI's notification of a timed job or run, posted at $when by a process
# of its own (the connection's goes on); it gives up when the emulator is
# gone
sub notify_later {
    my ($api, $id, $when) = @_;
    my $pid = fork // return;
    if ($pid) {
        waitpid $pid, 0;
        return;
    }
    POSIX::_exit(0) if fork // 1;   # the grandchild, on its own

    # never back in the connection's code, whatever happens
    eval { notify($api, $id, $when) } or warn "callback: $@";
    POSIX::_exit(0);
}

sub notify {
    my ($api, $id, $when) = @_;

    $0 = "ci-emulator $opt{listen} callback";
    for (;;) {
        POSIX::_exit(0) unless kill 0, $PARENT;
        my $left = $when - Time::HiRes::time();
        last if $left <= 0;
        Time::HiRes::sleep($left < 0.05 ? $left : 0.05);
    }

    my $run = $api eq 'workflowexecution';
    my $event = $run ? 'WorkflowFinish' : 'TaskFinish';
    my ($body, $type);
    if ($opt{'callback-json'}) {
        $body = JSON::PP->new->canonical->encode({
            EventName => $event,
            $run ? (WorkflowExecution => { RunId => $id, State => 'Success',
                                           WorkflowId => 'w9' })
                 : (JobsDetail => { Code => 'Success', Message => 'Success',
                                    JobId => $id, State => 'Success',
                                    Tag => { jobs => 'Transcode',
                                             pic_jobs => 'PosterProduction',
                                             ai_jobs => 'Translation' }->{$api}
                                           // '' }) });
        $type = 'application/json';
    } else {
        $body = $run ? run_xml(find_run($id), $id, new_request_id())
                     : lookup_xml($api, [ find_job($api, $id) ], [],
                                  new_request_id());
        $body =~ s{<Response>\n}
                  {<Response>\n    <EventName>$event</EventName>\n};
        $type = 'application/xml';
    }

    my ($host, $port, $path) =
        $opt{callback} =~ m{\Ahttp://([^/:]+):(\d+)(/.*)\z} or return 1;
    my $status = 0;
    my $sent = Time::HiRes::time();
    if (my $s = IO::Socket::IP->new(PeerHost => $host, PeerPort => $port,
                                    Timeout => 5)) {
        print $s "POST $path HTTP/1.1\r\nHost: $host:$port\r\n"
                 . "Content-Type: $type\r\nContent-Length: "
                 . length($body) . "\r\nConnection: close\r\n\r\n$body";
        my $answer = '';
        1 while sysread $s, $answer, 4096, length $answer;
        ($status) = $answer =~ m{\AHTTP/1\.[01] (\d{3})};
    }

    if ($opt{record} && open my $fh, '>>', "$opt{record}.callbacks") {
        flock $fh, LOCK_EX;
        print $fh JSON::PP->new->canonical->encode({
            event => $event, id => $id, time => $sent,
            status => 0 + ($status // 0) }), "\n";
        close $fh;
    }
    return 1;
}

sub nap {
    my ($seconds) = @_;
    my $end = Time::HiRes::time() + $seconds;
    while ((my $left = $end - Time::HiRes::time()) > 0) {
        Time::HiRes::sleep($left < 0.25 ? $left : 0.25);
        parent_check();
    }
}

# appends bytes to $$buf; 0 on EOF, error or timeout
sub read_some {
    my ($sock, $buf, $timeout) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    for (;;) {
        unless ($TLS && $sock->pending) {
            my $left = $deadline - Time::HiRes::time();
            return 0 if $left <= 0;
            my $rin = '';
            vec($rin, fileno($sock), 1) = 1;
            my $n = select(my $rout = $rin, undef, undef,
                           $left < 0.5 ? $left : 0.5);
            parent_check();
            next if !$n || $n < 0;
        }
        my $r = sysread($sock, $$buf, 65536, length $$buf);
        next if !defined $r && $!{EINTR};
        return $r // 0;
    }
}

sub write_all {
    my ($sock, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($sock, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $!{EINTR};
            POSIX::_exit(0);        # the peer is gone
        }
        $off += $n;
    }
}

sub rst_exit {
    my ($sock) = @_;
    setsockopt($sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    POSIX::_exit(0);                # the kernel closes: RST, no TLS shutdown
}

# a graceful close: our FIN, then what the client still sends is read away
sub close_exit {
    my ($sock) = @_;
    if ($TLS) {
        $sock->close;
    } else {
        shutdown($sock, SHUT_WR);
        my $junk = '';
        my $end = Time::HiRes::time() + 2;
        while (Time::HiRes::time() < $end) {
            $junk = '';
            last unless read_some($sock, \$junk, 0.5);
        }
        close $sock;
    }
    POSIX::_exit(0);
}

# reads a request: { method, target, version, headers, h, keepalive }, or
# { bad => why, ... what could be read }, or undef when the connection ends
# quietly between requests
sub read_request {
    my ($sock, $buf) = @_;
    my $started = length $$buf;

    for (;;) {
        $$buf =~ s/\A(?:\r?\n)+//;
        last if $$buf =~ /\n\r?\n/;
        return { bad => 'the request head is too large' }
            if length $$buf > $MAX_HEAD;
        my $n = read_some($sock, $buf, $started || length $$buf
                                       ? $READ_TIMEOUT : $IDLE_TIMEOUT);
        if (!$n) {
            return if !length $$buf;
            return { bad => 'the connection ended inside the request head' };
        }
        $started = 1;
    }

    $$buf =~ s/\A(.*?)\r?\n\r?\n//s;
    my $head = $1;
    return { bad => 'the request head is too large' }
        if length $head > $MAX_HEAD;
    my ($line, @lines) = split /\r?\n/, $head, -1;

    my %req = (headers => [], h => {});
    my ($method, $target, $version) =
        $line =~ m{\A([!#\$%&'*+.^_`|~0-9A-Za-z-]+) ([^\s]+) (HTTP/[0-9]\.[0-9])\z};
    @req{qw(method target version)} = ($method, $target, $version);
    return { %req, bad => 'a malformed request line' } unless $method;
    return { %req, bad => "unsupported $version" }
        unless $version eq 'HTTP/1.1' || $version eq 'HTTP/1.0';
    return { %req, bad => 'a request target that is not origin-form' }
        unless $target =~ m{\A/[\x21-\x7e]*\z} && $target !~ /#/;

    for (@lines) {
        my ($name, $value) =
            /\A([!#\$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*\z/s
            or return { %req, bad => 'a malformed header line' };
        return { %req, bad => "a control character in header $name" }
            if $value =~ /[\x00-\x08\x0a-\x1f\x7f]/;
        push @{ $req{headers} }, [ $name, $value ];
        my $lc = lc $name;
        return { %req, bad => "header $name repeated" }
            if exists $req{h}{$lc}
               && $lc =~ /\A(?:host|content-length|authorization|transfer-encoding)\z/;
        $req{h}{$lc} = exists $req{h}{$lc} ? "$req{h}{$lc}, $value" : $value;
    }

    # a request body is read and dropped
    my $te = $req{h}{'transfer-encoding'};
    my $cl = $req{h}{'content-length'};
    if (defined $te) {
        return { %req, bad => 'Transfer-Encoding and Content-Length' }
            if defined $cl;
        return { %req, bad => "Transfer-Encoding $te" }
            unless lc $te eq 'chunked' && $version eq 'HTTP/1.1';
        my $total = 0;
        for (;;) {
            while ($$buf !~ /\n/) {
                return { %req, bad => 'a malformed chunk' }
                    if length $$buf > 4096;
                read_some($sock, $buf, $READ_TIMEOUT)
                    or return { %req, bad => 'the connection ended inside '
                                              . 'the body' };
            }
            $$buf =~ s/\A([0-9A-Fa-f]{1,8})(?:;[^\r\n]*)?\r?\n//
                or return { %req, bad => 'a malformed chunk' };
            my $size = hex $1;
            $total += $size;
            return { %req, bad => 'the body is too large' }
                if $total > $MAX_BODY;
            if ($size == 0) {       # trailer fields, then an empty line
                for (;;) {
                    while ($$buf !~ /\n/) {
                        return { %req, bad => 'a malformed trailer' }
                            if length $$buf > $MAX_HEAD;
                        read_some($sock, $buf, $READ_TIMEOUT)
                            or return { %req, bad => 'the connection ended '
                                                      . 'inside the body' };
                    }
                    $$buf =~ s/\A([^\n]*)\n//;
                    last if $1 eq '' || $1 eq "\r";
                }
                last;
            }
            while (length $$buf < $size + 2) {
                read_some($sock, $buf, $READ_TIMEOUT)
                    or return { %req, bad => 'the connection ended inside '
                                              . 'the body' };
            }
            substr($$buf, 0, $size, '');
            $$buf =~ s/\A\r?\n//
                or return { %req, bad => 'a malformed chunk' };
        }
    } elsif (defined $cl) {
        return { %req, bad => "Content-Length $cl" }
            unless $cl =~ /\A[0-9]{1,10}\z/ && $cl <= $MAX_BODY;
        while (length $$buf < $cl) {
            read_some($sock, $buf, $READ_TIMEOUT)
                or return { %req, bad => 'the connection ended inside the '
                                          . 'body' };
        }
        substr($$buf, 0, $cl, '');
    }

    my %conn = map { lc($_) =~ s/\A\s+|\s+\z//gr => 1 }
               split /,/, $req{h}{connection} // '';
    $req{keepalive} = $version eq 'HTTP/1.1' ? !$conn{close}
                                             : $conn{'keep-alive'} && !$conn{close};
    return \%req;
}

# set in a connection's child: its TLS handshake resumed a session
my $TLS_RESUMED;

sub record {
    my ($entry) = @_;
    return unless $opt{record};
    $entry->{tls_resumed} = $TLS_RESUMED;
    sysopen my $fh, $opt{record}, O_WRONLY | O_APPEND | O_CREAT, 0644
        or do { warn "$opt{record}: $!\n"; return };
    flock $fh, LOCK_EX;
    syswrite $fh, $JSON->encode($entry) . "\n";
    close $fh;                      # also unlocks
}

sub response_head {
    my ($status, $rid, $keepalive, @headers) = @_;
    return join "\r\n", "HTTP/1.1 $status " . ($REASON{$status} // 'Error'),
        'Content-Type: application/xml', @headers,
        'Connection: ' . ($keepalive ? 'keep-alive' : 'close'),
        'Date: ' . http_date(), 'Server: tencent-ci',
        "x-ci-request-id: $rid", 'Set-Cookie: ci_emulator=1',
        'X-Emulator-Private: 1', '', '';
}

# sends the answer, misbehaving as asked; returns whether to keep the
# connection
sub deliver {
    my ($sock, $req, $res, $rid) = @_;
    my $fault = fault_kind($res->{fault} // '') // '';
    my $body = $res->{body};
    local $DATE_SHIFT = $fault eq 'forgeddate' ? 80000 : 0;
    my $keepalive = $req->{keepalive};
    my @headers = @{ $res->{headers} || [] };
    $body = '' if $req->{method} eq 'HEAD';

    rst_exit($sock) if $fault eq 'reset';
    close_exit($sock) if $fault eq 'close';
    nap($1) if $fault =~ /\Aslow([0-9]+)\z/;
    nap($1 / 1000) if $fault =~ /\Aslowms([0-9]+)\z/;

    if ($fault eq 'chunked' && $req->{version} eq 'HTTP/1.1') {
        my $q = int(length($body) / 4);
        my @chunks = (substr($body, 0, $q), substr($body, $q, $q),
                      substr($body, 2 * $q, $q), substr($body, 3 * $q));
        write_all($sock, response_head(200, $rid, $keepalive,
                                       'Transfer-Encoding: chunked',
                                       'Trailer: X-Trailer', @headers));
        write_all($sock, sprintf("%x;ext=\"a;b\"\r\n%s\r\n", length $chunks[0],
                                 $chunks[0]));
        write_all($sock, sprintf("%X\r\n%s\r\n", length $chunks[1], $chunks[1]));
        write_all($sock, sprintf("%x\r\n%s\r\n", length $_, $_))
            for @chunks[2, 3];
        write_all($sock, "0\r\nX-Trailer: done\r\n\r\n");
        return $keepalive;
    }

    if ($fault eq 'nolength') {
        write_all($sock, response_head($res->{status}, $rid, 0, @headers)
                         . $body);
        close_exit($sock);
    }

    if ($fault eq 'truncated') {
        write_all($sock, response_head($res->{status}, $rid, $keepalive,
                      'Content-Length: ' . (length($body) + 64), @headers)
                  . $body);
        close_exit($sock);
    }

    my $head = response_head($res->{status}, $rid, $keepalive,
                             'Content-Length: ' . length($res->{body}),
                             @headers);
    $head =~ s{^Content-Type: application/xml\r$}{Content-Type: text/plain\r}m
        if $fault eq 'contenttype';
    $head =~ s{\A(HTTP/1\.1 [0-9]{3}) [^\r]*}{$1 $HOSTILE_REASON}
        if $fault eq 'reason';
    $head =~ s{^x-ci-request-id: [^\r]*}{x-ci-request-id: $HOSTILE_REQUEST_ID}m
        if $fault eq 'requestid';

    if ($fault =~ /\A(?:slowbody([0-9]+)|resetbody)\z/) {
        my $pause = $1;
        my $half = int(length($body) / 2);
        write_all($sock, $head . substr($body, 0, $half));
        if (!defined $pause) {
            Time::HiRes::sleep(0.2);   # lets the half leave before the RST
            rst_exit($sock);
        }
        nap($pause);
        write_all($sock, substr($body, $half));
        return $keepalive;
    }

    write_all($sock, $head . $body);
    return $keepalive;
}

sub serve_connection {
    my ($sock) = @_;
    my $buf = '';
    my $idle_since;                 # when the last answer went

    for (;;) {
        my $req = read_request($sock, \$buf) // return;
        my $rid = new_request_id();
        my $stale = defined $STALE_AFTER && defined $idle_since
                    && Time::HiRes::time() - $idle_since >= $STALE_AFTER;

        if ($req->{bad}) {
            my $body = error_xml('InvalidArgument', 'The request is not a '
                                 . 'valid HTTP request.', $rid);
            record({ method => $req->{method}, target => $req->{target},
                     version => $req->{version},
                     headers => $req->{headers} // [], pid => $$,
                     time => Time::HiRes::time(),
                     signature => "bad: malformed request: $req->{bad}",
                     status => 400, code => 'InvalidArgument',
                     request_id => $rid, fault => undef,
                     response_sha1 => sha1_hex($body), response => $body });
            write_all($sock, response_head(400, $rid, 0,
                                           'Content-Length: ' . length $body)
                             . $body);
            close_exit($sock);
        }

        my $res = answer($req, $rid);
        my @extra;

        if (($res->{fault} // '') eq 'faultgzip'
            && gzip_allowed($req->{h}{'accept-encoding'}))
        {
            require IO::Compress::Gzip;
            my $gz;
            IO::Compress::Gzip::gzip(\$res->{body} => \$gz, Minimal => 1)
                or die "gzip failed";
            $res->{body} = $gz;
            push @{ $res->{headers} }, 'Content-Encoding: gzip';
        }
        push @{ $res->{headers} }, 'Vary: Accept-Encoding'
            if ($res->{fault} // '') eq 'faultgzip';

        record({ method => $req->{method}, target => $req->{target},
                 version => $req->{version}, headers => $req->{headers},
                 signature => $res->{signature}, pid => $$,
                 time => Time::HiRes::time(), status => $res->{status},
                 code => $res->{code}, request_id => $rid,
                 fault => $stale ? 'stale' : $res->{fault},
                 response_sha1 => sha1_hex($res->{body}),
                 length $res->{body} < $MAX_RECORDED
                 ? (response => $res->{body}) : () });

        close_exit($sock) if $stale;
        deliver($sock, $req, $res, $rid) or close_exit($sock);
        $idle_since = Time::HiRes::time();
    }
}

# --- the server --------------------------------------------------------------

my $ssl_ctx;
if ($TLS) {
    require IO::Socket::SSL;
    $ssl_ctx = IO::Socket::SSL::SSL_Context->new(
        SSL_server => 1, SSL_cert_file => $opt{'tls-cert'},
        SSL_key_file => $opt{'tls-key'})
        or die "TLS: " . IO::Socket::SSL::errstr() . "\n";
}

my $listener = IO::Socket::IP->new(LocalHost => $LISTEN_HOST,
                                   LocalPort => $LISTEN_PORT, Listen => 128,
                                   ReuseAddr => 1, Proto => 'tcp')
    or die "listen on $opt{listen}: $@\n";

unlink $STATE_FILE;

my %children;

sub reap {
    while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
        delete $children{$pid};
    }
}

sub stop {
    POSIX::_exit(0) if $$ != $PARENT;   # a child not yet on its own
    $SIG{CHLD} = 'DEFAULT';
    kill 'TERM', keys %children;
    my $deadline = Time::HiRes::time() + 2;
    while (%children && Time::HiRes::time() < $deadline) {
        reap();
        Time::HiRes::sleep(0.02) if %children;
    }
    if (%children) {
        kill 'KILL', keys %children;
        reap();
    }
    unlink $STATE_FILE;
    if (my $file = $opt{'pid-file'}) {
        open my $fh, '<', $file;
        my $pid = $fh ? <$fh> : undef;
        unlink $file if defined $pid && $pid =~ /\A$$\b/;
    }
    exit 0;
}

$SIG{TERM} = $SIG{INT} = $SIG{HUP} = \&stop;
$SIG{CHLD} = \&reap;
$SIG{PIPE} = 'IGNORE';

if (my $file = $opt{'pid-file'}) {
    open my $fh, '>', "$file.$$" or die "$file: $!\n";
    print $fh "$$\n";
    close $fh or die "$file: $!\n";
    rename "$file.$$", $file or die "$file: $!\n";
}

$0 = "ci-emulator $opt{listen}";

for (;;) {
    my $client = $listener->accept;
    if (!$client) {
        Time::HiRes::sleep(0.05) unless $!{EINTR};
        next;
    }
    my $pid = fork;

    if (!defined $pid) {
        warn "fork: $!\n";
        close $client;
        next;
    }

    if ($pid) {
        $children{$pid} = 1;
        close $client;
        next;
    }

    # the child: one connection
    $SIG{TERM} = $SIG{INT} = $SIG{HUP} = $SIG{CHLD} = 'DEFAULT';
    close $listener;
    $0 = "ci-emulator $opt{listen} connection";
    parent_check();
    setsockopt($client, IPPROTO_TCP, TCP_NODELAY, 1);

    if ($TLS) {
        IO::Socket::SSL->start_SSL($client, SSL_server => 1,
                                   $opt{'no-tls-resume'}
                                   ? (SSL_cert_file => $opt{'tls-cert'},
                                      SSL_key_file => $opt{'tls-key'})
                                   : (SSL_reuse_ctx => $ssl_ctx),
                                   Timeout => 5)
            or POSIX::_exit(0);
        $TLS_RESUMED = $client->get_session_reused ? JSON::PP::true
                                                   : JSON::PP::false;
    }

    binmode $client;
    eval { serve_connection($client); 1 } or warn "connection: $@";
    close_exit($client);
}
